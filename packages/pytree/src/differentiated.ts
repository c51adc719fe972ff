import * as tf from '@tensorflow/tfjs-core';

/**
 * Which tensors the gradients being taken depend on. tfjs tells a function nothing about
 * what it is differentiated with respect to, yet an op whose kernel gives some input no
 * gradient (a data batch, say) must know whether that input is differentiated, or a
 * gradient would silently be zero. So every `gradients` call of the engine (all of
 * tfjs's and lopt's `grad`s go through it) records its `xs` while its function runs,
 * and a tensor is differentiated when it is one of them or is computed from one of them
 * by ops on the active tape.
 */

interface TapeNode {
  inputs: Record<string, tf.Tensor | undefined>;
  outputs: tf.Tensor[];
}

interface GradientsEngine {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  gradients(f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean): unknown;
}

/** Shared by every copy of this module (ESM and CJS builds may both load), so the engine is wrapped once. */
interface Registry {
  engine: GradientsEngine;
  /** The `xs` of the `gradients` calls running, outermost first. */
  xs: tf.Tensor[][];
  /** Bumped whenever `xs` changes, so the tape analysis below knows when to start over. */
  version: number;
}

const KEY = Symbol.for('lopt.pytree.differentiated');

function registry(): Registry {
  const engine = tf.engine() as unknown as GradientsEngine;
  const g = globalThis as unknown as Record<symbol, Registry | undefined>;
  let r = g[KEY];
  if (r && r.engine === engine) return r;
  const fresh: Registry = { engine, xs: [], version: 0 };
  const base = engine.gradients;
  engine.gradients = function (this: GradientsEngine, f, xs, dy, allowNoGradients) {
    fresh.xs.push(xs);
    fresh.version++;
    try {
      return base.call(this, f, xs, dy, allowNoGradients);
    } finally {
      fresh.xs.pop();
      fresh.version++;
    }
  };
  r = fresh;
  g[KEY] = r;
  return r;
}

// Installed on load: a `gradients` call that starts before the wrapper would go unrecorded.
registry();

/** The ids of the differentiated tensors, grown node by node as the active tape grows. */
let analysis: { tape: TapeNode[]; version: number; seen: number; ids: Set<number> } | undefined;

/**
 * True when a gradient being taken depends on `x`: `x` is one of the tensors a running
 * `grad` / `valueAndGrad` (lopt's or tfjs's) differentiates with respect to, or is
 * computed from one of them inside it. False whenever no gradient tape records.
 * `defineOp` uses it to run an op's reference when an input its kernel gives no
 * gradient is differentiated.
 */
export function isDifferentiated(x: tf.Tensor): boolean {
  const r = registry();
  const tape = r.engine.state.activeTape;
  if (r.engine.state.gradientDepth === 0 || !tape || r.xs.length === 0) return false;
  if (!analysis || analysis.tape !== tape || analysis.version !== r.version || analysis.seen > tape.length) {
    analysis = { tape, version: r.version, seen: 0, ids: new Set(r.xs.flat().map((t) => t.id)) };
  }
  const ids = analysis.ids;
  for (; analysis.seen < tape.length; analysis.seen++) {
    const node = tape[analysis.seen]!;
    let fromX = false;
    for (const name in node.inputs) {
      const input = node.inputs[name];
      if (input && ids.has(input.id)) {
        fromX = true;
        break;
      }
    }
    if (fromX) for (const out of node.outputs) ids.add(out.id);
  }
  return ids.has(x.id);
}
