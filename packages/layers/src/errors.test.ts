import { AdafacMLPLOpt } from '@lopt/learned';
import { Adam, SGD, SGDM, scaleByAdam } from '@lopt/optimizers';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { asTfOptimizer, registerOptimizer } from './index.js';
import { mlp } from './test-helpers.js';

const grad = (name: string, values: number[]) => [{ name, tensor: tf.tensor1d(values) }];

async function saved(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let out: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      out = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  return out!;
}

async function trainedBy(optimizer: tf.Optimizer): Promise<tfl.LayersModel> {
  const model = mlp();
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  const x = tf.ones([8, 64]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10);
  await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0 });
  tf.dispose([x, y]);
  return model;
}

describe('bad input gets a clear error', () => {
  it('refuses things that are not lopt optimizers, saying what to pass', () => {
    expect(() => asTfOptimizer({} as never)).toThrow(/expected a lopt Optimizer .*got a plain object/);
    expect(() => asTfOptimizer(null as never)).toThrow(/expected a lopt Optimizer .*got null/);
    expect(() => asTfOptimizer(0.01 as never)).toThrow(/got a number \(0.01\)/);
    expect(() => asTfOptimizer(new AdafacMLPLOpt() as never)).toThrow(
      /learned optimizer \(an instance of AdafacMLPLOpt\).*asTfOptimizer\(lopt.optFn\(theta\)\)/,
    );
    const adam = tf.train.adam();
    expect(() => asTfOptimizer(adam as never)).toThrow(/already a tf.Optimizer: pass it to model.compile directly/);
    adam.dispose();
    expect(() => asTfOptimizer(scaleByAdam() as never)).toThrow(
      /gradient transformation\? Wrap it first: asTfOptimizer\(new OptaxOptimizer\(transformation\)\)/,
    );
    expect(() => asTfOptimizer(new SGD(0.1), { name: 'a/b' })).toThrow(/without '\/'/);
    expect(() => asTfOptimizer(new SGD(0.1), { numSteps: -1 })).toThrow(/numSteps must be a positive integer/);
  });

  it('refuses a variable whose shape changed since the state was built, until reset()', () => {
    const opt = asTfOptimizer(new Adam(0.1));
    let w = tf.variable(tf.zeros([3]), true, 'reshaped_w');
    let g = grad('reshaped_w', [1, 2, 3]);
    opt.applyGradients(g);
    tf.dispose(g.map((x) => x.tensor));
    w.dispose();
    w = tf.variable(tf.zeros([4]), true, 'reshaped_w');
    g = grad('reshaped_w', [1, 2, 3, 4]);
    expect(() => opt.applyGradients(g)).toThrow(/'reshaped_w' changed shape from \[3\] to \[4\].*call reset\(\)/);
    // Nothing changed on the failed step.
    expect(Array.from(w.dataSync())).toEqual([0, 0, 0, 0]);
    opt.reset();
    opt.applyGradients(g);
    expect(Array.from(w.dataSync()).map((v) => Math.round(v * 10) / 10)).toEqual([-0.1, -0.1, -0.1, -0.1]);
    tf.dispose(g.map((x) => x.tensor));
    opt.dispose();
    w.dispose();
  });

  it('refuses gradients of the wrong shape or for variables it does not track', () => {
    const opt = asTfOptimizer(new SGD(0.1));
    const a = tf.variable(tf.zeros([2]), true, 'tracked_a');
    const b = tf.variable(tf.zeros([2]), true, 'untracked_b');
    const ga = grad('tracked_a', [1, 1]);
    opt.applyGradients(ga);
    const bad = grad('tracked_a', [1, 1, 1]);
    expect(() => opt.applyGradients(bad)).toThrow(
      /gradient of 'tracked_a' has shape \[3\], but the variable has shape \[2\]/,
    );
    const gb = grad('untracked_b', [1, 1]);
    expect(() => opt.applyGradients(gb)).toThrow(/variables it does not track \(untracked_b\).*new asTfOptimizer/);
    expect(() => opt.applyGradients(grad('no_such_variable', [1]))).toThrow(/does not track/);
    const fresh = asTfOptimizer(new SGD(0.1));
    const gn = grad('no_such_variable', [1]);
    expect(() => fresh.applyGradients(gn)).toThrow(/no variable named 'no_such_variable'/);
    expect(() => fresh.applyGradients({})).toThrow(/no gradients were given/);
    tf.dispose([...ga, ...bad, ...gb, ...gn].map((x) => x.tensor));
    for (const x of [opt, fresh, a, b]) x.dispose();
  });

  it('refuses the saved state of another optimizer, naming both', async () => {
    const adam = asTfOptimizer(new Adam(1e-3));
    const model = await trainedBy(adam);
    const sgdm = asTfOptimizer(new SGDM(0.1, 0.9));
    await expect(sgdm.setWeights(await adam.getWeights())).rejects.toThrow(
      /saved by the lopt optimizer 'Adam_lr0.001_b10.9_b20.999_eps1e-08_epsroot1e-08' .*not by the lopt optimizer 'SGDM_lr0.1_m0.9'/,
    );
    // tf.train's own Adam state.
    const tfAdam = tf.train.adam(1e-3);
    const other = await trainedBy(tfAdam);
    await expect(sgdm.setWeights(await tfAdam.getWeights())).rejects.toThrow(
      /saved by another optimizer \(not a lopt one\) .*not by the lopt optimizer 'SGDM_lr0.1_m0.9'/,
    );
    await expect(sgdm.setWeights([])).rejects.toThrow(/expected the list getWeights\(\) returns/);
    for (const x of [adam, sgdm, tfAdam]) x.dispose();
    model.dispose();
    other.dispose();
  });

  it('refuses, at the first step, a saved state that does not fit the optimizer built for its name', async () => {
    const adam = asTfOptimizer(new Adam(1e-3), { name: 'shared-name' });
    const model = await trainedBy(adam);
    const artifacts = await saved(model);
    // The name now builds SGDM: the saved Adam moments cannot become its state.
    registerOptimizer('shared-name', () => new SGDM(0.1, 0.9));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    const before = loaded.getWeights().map((w) => Array.from(w.dataSync()));
    const x = tf.ones([8, 64]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10);
    await expect(loaded.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0 })).rejects.toThrow(
      /saved state does not fit SGDM_lr0.1_m0.9 .*missing shared-name\/.optaxOptState.*Was it saved for another model\?/,
    );
    // The failed step changed no weight.
    expect(loaded.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    tf.dispose([x, y]);
    adam.dispose();
    loaded.optimizer.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('says how to make a saved model loadable when its optimizer name is not registered', async () => {
    const opt = asTfOptimizer(new SGD(0.1), { name: 'never-registered' });
    const model = await trainedBy(opt);
    const artifacts = await saved(model);
    await expect(tfl.loadLayersModel(tf.io.fromMemory(artifacts))).rejects.toThrow(
      /saved with the lopt optimizer 'never-registered'.*registerOptimizer\('never-registered', \(\) => <the same lopt optimizer>\)/,
    );
    opt.dispose();
    model.dispose();
  });
});
