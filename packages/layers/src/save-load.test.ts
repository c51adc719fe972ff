import { AdafacMLPLOpt } from '@lopt/learned';
import { Adam, type Optimizer } from '@lopt/optimizers';
import { random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asTfOptimizer, LoptOptimizer, registerOptimizer } from './index.js';
import { type FashionArrays, fashion, mlp, weightsOf } from './test-helpers.js';

let train: FashionArrays;
beforeAll(async () => {
  train = await fashion('train', 1024);
});
afterAll(() => tf.dispose([train.x, train.y]));

const fit = (model: tfl.LayersModel, epochs: number) =>
  model.fit(train.x, train.y, { batchSize: 128, epochs, verbose: 0, shuffle: false });

/** Saves into memory and gives back the artifacts, as an IOHandler would store them. */
async function saveToMemory(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  return saved!;
}

const adafac = new AdafacMLPLOpt();
const theta = adafac.init(random.PRNGKey(0));
afterAll(() => treeDispose(theta));

const cases: [string, () => Optimizer][] = [
  ['Adam', () => new Adam(3e-3)],
  ['AdafacMLPLOpt (init theta)', () => adafac.optFn(theta)],
];

describe('model.save(..., { includeOptimizer: true }) and tf.loadLayersModel', () => {
  it.each(cases)('%s: a loaded model resumes training bit for bit', async (_label, make) => {
    const model = mlp();
    const opt = asTfOptimizer(make());
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
    await fit(model, 2);
    const artifacts = await saveToMemory(model);
    expect(artifacts.trainingConfig?.optimizer_config).toEqual({
      class_name: 'LoptOptimizer',
      config: { name: opt.saveName },
    });
    const optimizerSpecs = artifacts.weightSpecs!.filter((s) => s.group === 'optimizer');
    expect(optimizerSpecs[0]!.name).toBe('iter');
    expect(optimizerSpecs.length).toBeGreaterThan(2);
    expect(optimizerSpecs.slice(1).every((s) => s.name.startsWith(`${opt.saveName}/`))).toBe(true);

    registerOptimizer(opt.saveName, make);
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    expect(loaded.optimizer).toBeInstanceOf(LoptOptimizer);
    expect(loaded.optimizer.iterations).toBe(16);

    // A control: the same weights with a fresh optimizer state train differently.
    const restarted = await tfl.loadLayersModel(tf.io.fromMemory({ ...artifacts, trainingConfig: undefined }));
    const fresh = asTfOptimizer(make());
    restarted.compile({ optimizer: fresh, loss: 'categoricalCrossentropy' });

    await fit(model, 2);
    await fit(loaded, 2);
    await fit(restarted, 2);
    const want = weightsOf(model);
    const got = weightsOf(loaded);
    got.forEach((w, i) => expect(Buffer.from(w.buffer).equals(Buffer.from(want[i]!.buffer))).toBe(true));
    expect(loaded.optimizer.iterations).toBe(32);
    const other = weightsOf(restarted);
    expect(other.some((w, i) => w.some((v, j) => v !== want[i]![j]))).toBe(true);

    for (const m of [model, loaded, restarted]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });

  it('getWeights / setWeights copy the state from one optimizer to another exactly', async () => {
    const a = mlp();
    const optA = asTfOptimizer(new Adam(3e-3));
    a.compile({ optimizer: optA, loss: 'categoricalCrossentropy' });
    await fit(a, 1);
    const b = mlp();
    b.setWeights(a.getWeights());
    const optB = asTfOptimizer(new Adam(3e-3));
    b.compile({ optimizer: optB, loss: 'categoricalCrossentropy' });
    const weights = await optA.getWeights();
    expect(weights[0]!.name).toBe('iter');
    expect(weights[0]!.tensor.dataSync()[0]).toBe(8);
    // Adam's state: a step count per transformation and the two moments of each of the 4 weights.
    expect(weights.length).toBe(1 + 2 + 8);
    await optB.setWeights(weights);
    expect(optB.iterations).toBe(8);
    await fit(a, 1);
    await fit(b, 1);
    const wa = weightsOf(a);
    weightsOf(b).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(wa[i]!)));
    // setWeights on an optimizer that is already stepping replaces its state.
    await optA.setWeights(await optB.getWeights());
    await fit(a, 1);
    await fit(b, 1);
    const wa2 = weightsOf(a);
    weightsOf(b).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(wa2[i]!)));
    for (const [m, o] of [
      [a, optA],
      [b, optB],
    ] as const) {
      o.dispose();
      m.dispose();
    }
  });
});
