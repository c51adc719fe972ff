/**
 * The 1M-parameter pytree of the optimizer-step benchmarks: 1,103,000 parameters in 10
 * leaves of mixed sizes, like a small MLP's weights and biases.
 */
export const MILLION_PARAM_SHAPES: readonly number[][] = [
  [1000, 500],
  [500],
  [300, 400],
  [400],
  [200, 500],
  [500],
  [100, 1000],
  [1000],
  [50, 2000],
  [180600],
];
