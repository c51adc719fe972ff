import { Celo2, celo2AdamWLeaves, celo2Theta } from '@lopt/learned';
import { Adam, type Optimizer, type OptState } from '@lopt/optimizers';
import { random, tidy, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { median, type RatioCase } from '../harness.js';
import { MILLION_PARAM_SHAPES } from '../million-params.js';

const SHAPES = MILLION_PARAM_SHAPES;
// Multiply-adds of the update network per element (x2 for FLOPs): 18 per-element
// features -> 8 -> 8 -> the one output used (row and column features are per row/column).
const MLP_FLOPS_PER_ELEMENT = 2 * (18 * 8 + 8 * 8 + 8);

/**
 * FLOPs of Celo2's Newton–Schulz iterations on a leaf (last two axes a matrix, the leading
 * ones a batch), on the cheaper orientation: with s the smaller side and l the larger, each
 * iteration is the Gram matrix (2 s² l), its square (2 s³) and the product back (2 s² l).
 */
export function newtonSchulzFlops(shape: readonly number[], iters = 5): number {
  const m = shape[shape.length - 2]!;
  const n = shape[shape.length - 1]!;
  const batch = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const [s, l] = m < n ? [m, n] : [n, m];
  return batch * iters * (4 * s * s * l + 2 * s * s * s);
}

/** One pass of the Newton–Schulz products (five iterations) over the given tall matrices. */
function newtonSchulzProducts(talls: tf.Tensor2D[]): void {
  for (const y of talls) {
    tf.tidy(() => {
      const yt = tf.transpose(y) as tf.Tensor2D;
      for (let i = 0; i < 5; i++) {
        const gram = tf.matMul(yt, y);
        tf.matMul(gram, gram);
        tf.matMul(y, gram).dataSync();
      }
    });
  }
}

const celo2Step: RatioCase = {
  name: 'Celo2 step, 1M params in 10 leaves (vs lopt Adam)',
  goal: '<= 4x lopt Adam step',
  goalRatio: 4,
  peerName: 'lopt Adam',
  itersPerBlock: 10,
  blocks: 5,
  setup: async () => {
    const keys = random.split(random.PRNGKey(7), 2 * SHAPES.length);
    const params: Record<string, tf.Tensor> = {};
    const grads: Record<string, tf.Tensor> = {};
    SHAPES.forEach((shape, i) => {
      params[`leaf${i}`] = random.normal(keys[2 * i]!, shape);
      grads[`leaf${i}`] = tf.mul(random.normal(keys[2 * i + 1]!, shape), 1e-2);
    });
    const route = celo2AdamWLeaves(params);
    const learnedShapes = SHAPES.filter((_, i) => !route[i]);
    if (learnedShapes.length !== 3)
      throw new Error(`expected 3 leaves on Celo2's learned path, got ${learnedShapes.length}`);
    const nsFlops = learnedShapes.reduce((a, sh) => a + newtonSchulzFlops(sh), 0);
    const mlpFlops = learnedShapes.reduce((a, sh) => a + sh.reduce((x, y) => x * y, 1), 0) * MLP_FLOPS_PER_ELEMENT;
    const theta = celo2Theta();
    const opt: Optimizer = new Celo2().optFn(theta);
    const adam = new Adam(1e-3);
    const clone = () => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.clone(p)]));
    let cs: OptState<Record<string, tf.Tensor>> = opt.init(clone());
    let as: OptState<Record<string, tf.Tensor>> = adam.init(clone());
    const peer = () => {
      const next = adam.update(as, grads);
      treeDispose(as);
      as = next;
      as.params.leaf2!.dataSync();
    };
    return {
      lopt: () => {
        const next = tidy(() => opt.update(cs, grads));
        treeDispose(cs);
        cs = next;
        cs.params.leaf2!.dataSync();
      },
      peer,
      dispose: () => treeDispose(cs, as, params, grads, theta),
      note: ({ loptMs, peerMs }) => {
        const talls = learnedShapes.map(
          ([m, n]) =>
            tf.tidy(() =>
              tf.div(random.normal(random.PRNGKey(m!), [Math.max(m!, n!), Math.min(m!, n!)]), Math.sqrt(m! * n!)),
            ) as tf.Tensor2D,
        );
        const ns: number[] = [];
        const pairs: number[] = [];
        newtonSchulzProducts(talls);
        for (let k = 0; k < 5; k++) {
          const t0 = performance.now();
          newtonSchulzProducts(talls);
          const t1 = performance.now();
          peer();
          const t2 = performance.now();
          ns.push(t1 - t0);
          pairs.push((t1 - t0) / (t2 - t1));
        }
        treeDispose(talls);
        const nsMs = median(ns);
        const gflops = nsFlops / nsMs / 1e6;
        const floorRatio = (median(pairs) * (nsFlops + mlpFlops)) / nsFlops;
        return (
          `arithmetic floor ${floorRatio.toFixed(1)}x Adam: ${((nsFlops + mlpFlops) / 1e9).toFixed(2)} GFLOP a step ` +
          `(Newton–Schulz ${(nsFlops / 1e9).toFixed(2)}, update network ${(mlpFlops / 1e9).toFixed(2)}) at the ` +
          `${gflops.toFixed(2)} GFLOP/s this machine's matmul gives the Newton–Schulz shapes, timed against ` +
          `Adam steps in alternation; Celo2 measured ${(loptMs / peerMs / floorRatio).toFixed(1)}x its floor`
        );
      },
    };
  },
};

export default celo2Step;
