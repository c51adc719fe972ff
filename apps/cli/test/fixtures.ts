// Run configurations shared by the command's tests.

/**
 * A small meta-training configuration: `lopt` on 10-d quadratics, 2 problems, 10 inner
 * steps in truncations of 5.
 */
export function quickMetaTrain(lopt = 'LearnableAdam'): string[] {
  return ['--lopt', lopt, ...'--task FixedDimQuadraticFamily --tasks 2 --inner-steps 10 --trunc-length 5'.split(' ')];
}
