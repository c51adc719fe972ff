import * as tf from '@tensorflow/tfjs-core';

/**
 * One number per leaf of theta, for trajectories: the value of scalar leaves, the L2
 * norm of the others (named `|path|`). Paths are dotted, keys in sorted order.
 */
export function thetaSummary(theta: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (x: unknown, path: string) => {
    if (x instanceof tf.Tensor) {
      const d = x.dataSync();
      if (d.length === 1) out[path || 'theta'] = d[0]!;
      else {
        let s = 0;
        for (let i = 0; i < d.length; i++) s += d[i]! * d[i]!;
        out[`|${path || 'theta'}|`] = Math.sqrt(s);
      }
    } else if (Array.isArray(x)) x.forEach((v, i) => walk(v, path ? `${path}.${i}` : String(i)));
    else if (x !== null && typeof x === 'object') {
      for (const k of Object.keys(x).sort()) walk((x as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
    }
  };
  walk(theta, '');
  return out;
}
