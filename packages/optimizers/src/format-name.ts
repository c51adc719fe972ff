import * as tf from '@tensorflow/tfjs-core';

/**
 * Formats a hyperparameter as Python's `str` would print it in the reference's optimizer
 * names (`0.01`, `1e-08`, `0.0`, `True`), so names match the reference's baselines.
 * Tensors print as `tensor` and functions (schedules) as `schedule`.
 */
export function formatHyperparam(x: unknown): string {
  if (typeof x === 'boolean') return x ? 'True' : 'False';
  if (x instanceof tf.Tensor) return 'tensor';
  if (typeof x === 'function') return 'schedule';
  if (x === null || x === undefined) return 'None';
  if (typeof x !== 'number') return String(x);
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // Python's repr uses the same shortest round-trip digits as JavaScript, but switches to
  // exponent notation below 1e-4 (JavaScript: 1e-6) and pads the exponent to two digits.
  const [mant, expStr] = x.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) {
    const sign = exp < 0 ? '-' : '+';
    return `${mant}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed = String(x);
  if (fixed.includes('e')) return x.toFixed(Math.max(0, -exp + mant.replace(/[-.]/g, '').length - 1));
  return Number.isInteger(x) ? `${fixed}.0` : fixed;
}

/** `Class_key1value1_key2value2...`, the reference's naming pattern for optimizers. */
export function optimizerName(className: string, parts: readonly (readonly [string, unknown])[]): string {
  return [className, ...parts.map(([k, v]) => `${k}${formatHyperparam(v)}`)].join('_');
}
