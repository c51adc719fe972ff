/**
 * The seed's meta-iteration (learned_optimization's Part 1): LearnableAdam on
 * ImageMLP_FashionMnist8_Relu32, batch 128, a 4-step unroll, the meta-loss and its
 * gradient, and one Adam step on theta — written as a user writes it with lopt.
 */
import type { Batch } from '@lopt/datasets';
import { LearnableAdam, type LearnableAdamTheta } from '@lopt/learned';
import { Adam, type OptState } from '@lopt/optimizers';
import { unrolledMetaLoss } from '@lopt/outer-trainers';
import { type PRNGKey, random, tidy, treeDispose, valueAndGrad } from '@lopt/pytree';
import { imageMlp } from '@lopt/tasks';

/** A seed meta-trainer: `step(batch)` runs one meta-iteration and returns the meta-loss. */
export async function loptSeed(dataDir?: string) {
  const task = await imageMlp.ImageMLP_FashionMnist8_Relu32(dataDir ? { cacheRoot: dataDir, download: false } : {});
  const lopt = new LearnableAdam();
  const metaLoss = unrolledMetaLoss(lopt, task, { unrollSteps: 4 });
  const metaValueAndGrad = valueAndGrad(metaLoss);
  const thetaOpt = new Adam(1e-2);
  let key = random.PRNGKey(0);
  let thetaState: OptState<LearnableAdamTheta> = thetaOpt.init(lopt.init(key));
  return {
    task,
    step(batch: Batch): number {
      let k: PRNGKey;
      [key, k] = random.split(key) as [PRNGKey, PRNGKey];
      const out = tidy(() => {
        const theta = thetaOpt.getParams(thetaState);
        const [ml, g] = metaValueAndGrad(theta, k, batch);
        return { state: thetaOpt.update(thetaState, g, { loss: ml }), ml };
      });
      treeDispose(thetaState);
      thetaState = out.state;
      const v = out.ml.dataSync()[0]!;
      out.ml.dispose();
      return v;
    },
    learningRate(): number {
      return Math.exp(thetaOpt.getParams(thetaState).logLr.dataSync()[0]!);
    },
    dispose() {
      treeDispose(thetaState);
    },
  };
}
