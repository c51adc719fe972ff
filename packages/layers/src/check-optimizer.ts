import type { Optimizer } from '@lopt/optimizers';

const isFn = (x: unknown, k: string) => typeof (x as Record<string, unknown>)[k] === 'function';

/** What `x` is, for an error message. */
function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (typeof x !== 'object' && typeof x !== 'function') return `a ${typeof x} (${String(x)})`;
  const ctor = (x as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== 'Object' ? `an instance of ${ctor}` : 'a plain object';
}

/**
 * Checks that `x` is a lopt `Optimizer` (duck-typed, so copies of @lopt/optimizers from
 * different bundles are accepted) and says what to pass instead when it is not.
 */
export function checkOptimizer(x: unknown, fn: string): asserts x is Optimizer {
  if (
    x !== null &&
    typeof x === 'object' &&
    isFn(x, 'init') &&
    isFn(x, 'update') &&
    isFn(x, 'getParams') &&
    isFn(x, 'setParams')
  ) {
    return;
  }
  const what = describe(x);
  if (x !== null && typeof x === 'object') {
    if (isFn(x, 'optFn') && isFn(x, 'init')) {
      throw new TypeError(
        `${fn}: expected a lopt Optimizer, got a learned optimizer (${what}). ` +
          'Pass the optimizer its meta-parameters define: asTfOptimizer(lopt.optFn(theta)), with theta from lopt.init(key) or loadTheta(file).',
      );
    }
    if (isFn(x, 'applyGradients') && isFn(x, 'minimize')) {
      throw new TypeError(
        `${fn}: expected a lopt Optimizer, got ${what}, which is already a tf.Optimizer: pass it to model.compile directly.`,
      );
    }
    if (isFn(x, 'init') && isFn(x, 'update')) {
      throw new TypeError(
        `${fn}: expected a lopt Optimizer, got ${what} with init/update but no getParams/setParams — ` +
          'a gradient transformation? Wrap it first: asTfOptimizer(new OptaxOptimizer(transformation)).',
      );
    }
  }
  throw new TypeError(
    `${fn}: expected a lopt Optimizer (from @lopt/optimizers, e.g. new Adam(1e-3), or lopt.optFn(theta) from @lopt/learned), got ${what}.`,
  );
}
