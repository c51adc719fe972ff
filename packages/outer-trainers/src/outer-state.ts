/**
 * What inner training may know about outer training (learned_optimization's
 * `OuterState`): plain data, so it can be checkpointed.
 */
export interface OuterState {
  /** The number of outer (meta) updates applied so far. */
  outerIteration: number;
}
