import type { Optimizer } from '@lopt/optimizers';

const factories = new Map<string, () => Optimizer>();

/**
 * Makes models saved with the lopt optimizer named `name` loadable: when
 * `tf.loadLayersModel` meets a saved `LoptOptimizer` under that name, it builds the lopt
 * optimizer with `factory`, then restores the saved optimizer state into it.
 *
 * The name is the one the optimizer was saved under: `asTfOptimizer`'s `name` option,
 * else the lopt optimizer's `name` (for example `Adam_lr0.001_b10.9_...`). Registering a
 * name again replaces its factory.
 */
export function registerOptimizer(name: string, factory: () => Optimizer): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new Error('registerOptimizer: the name must be a non-empty string (the name the optimizer was saved under)');
  }
  if (typeof factory !== 'function') {
    throw new Error(`registerOptimizer('${name}'): the factory must be a function returning a lopt Optimizer`);
  }
  factories.set(name, factory);
}

/** The factory registered for `name`, if any. */
export function registeredOptimizer(name: string): (() => Optimizer) | undefined {
  return factories.get(name);
}
