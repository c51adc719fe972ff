import { jargonFileDatasets, type TextBatch, type TextDatasets } from '@lopt/datasets';
import { random, treeDispose } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchedLoss, stackParams } from './batched.js';
import { getTask } from './registry.js';
import { expectGradientsMatchWithoutLeaks } from './test-helpers.js';
import { TransformerLMTask } from './transformer-lm.js';

let text: TextDatasets;
beforeAll(async () => {
  text = await jargonFileDatasets({ cacheRoot: null, batchSize: 2, sequenceLength: 6, key: random.PRNGKey(5) });
});

const tiny = () =>
  new TransformerLMTask(text, { name: 'tiny_transformer', numLayers: 2, dModel: 8, numHeads: 2, maxPositions: 8 });

describe('TransformerLMTask', () => {
  it('is causal: changing token t changes the logits at t and later only', () => {
    const task = tiny();
    const p = task.init(random.PRNGKey(0));
    const batch = text.train.next().value;
    const o = batch.obs.arraySync();
    o[0]![3] = (o[0]![3]! + 1) % 256;
    const changed = tf.tensor2d(o, [2, 6], 'int32');
    const diff = tf.tidy(
      () => tf.max(tf.abs(tf.sub(task.logits(p, batch.obs), task.logits(p, changed))), -1).arraySync() as number[][],
    );
    expect(diff[0]!.slice(0, 3)).toEqual([0, 0, 0]); // earlier positions never see token 3
    for (const d of diff[0]!.slice(3)) expect(d).toBeGreaterThan(1e-4); // later ones do
    expect(diff[1]).toEqual([0, 0, 0, 0, 0, 0]); // rows do not mix
    treeDispose(p, batch, changed);
  });

  it('has gradients that match finite differences, and leaks nothing', () => {
    const task = tiny();
    expectGradientsMatchWithoutLeaks(task, task.init(random.PRNGKey(3)), text.train.next().value, 2);
  });

  it('gives K losses through batchedLoss (a loop over loss)', () => {
    const task = tiny();
    const members = [0, 1].map((s) => task.init(random.PRNGKey(s)));
    const stacked = stackParams(members);
    const batch = text.train.next().value;
    const keys = [random.PRNGKey(0), random.PRNGKey(1)];
    const l = batchedLoss(task, stacked, keys, batch);
    const l1 = task.loss(members[1]!, keys[1]!, batch);
    expect(l.dataSync()[1]).toBeCloseTo(l1.dataSync()[0]!, 5);
    treeDispose(members, stacked, batch, l, l1);
  });

  it('starts near ln(256) on the fixed task', async () => {
    const task = await getTask('TransformerLM_JargonByte_Patch32_2layer_64width', { cacheRoot: null, batchSize: 4 });
    const p = task.init(random.PRNGKey(0));
    const batch = task.datasets!.train.next().value as unknown as TextBatch;
    const l = task.loss(p, random.PRNGKey(0), batch);
    expect(l.dataSync()[0]).toBeGreaterThan(Math.log(256) - 0.1);
    expect(l.dataSync()[0]).toBeLessThan(Math.log(256) + 1);
    treeDispose(p, batch, l);
  });

  it('rejects sequences longer than its positions and a vocabulary mismatch, with clear errors', async () => {
    const long = await jargonFileDatasets({ cacheRoot: null, batchSize: 2, sequenceLength: 12 });
    expect(() => new TransformerLMTask(long, { name: 'short', dModel: 8, numHeads: 2, maxPositions: 8 })).toThrow(
      /short: the corpus gives sequences of 12 tokens, longer than the model's 8 learned positions; load it with sequenceLength <= 8/,
    );
    const task = new TransformerLMTask(undefined, { name: 'by_hand', dModel: 8, numHeads: 2, maxPositions: 8 });
    const p = task.init(random.PRNGKey(0));
    const batch = long.train.next().value;
    expect(() => task.loss(p, random.PRNGKey(0), batch)).toThrow(
      /by_hand: sequences of 12 tokens are longer than the model's 8 learned positions/,
    );
    expect(
      () => new TransformerLMTask(text, { name: 'v', dModel: 8, numHeads: 2, maxPositions: 8, vocabSize: 100 }),
    ).toThrow(/vocabulary of 256 tokens but the task's embedding and output layer have 100/);
    expect(() => new TransformerLMTask(text, { name: 'h', dModel: 10, numHeads: 4, maxPositions: 8 })).toThrow(
      /dModel 10 is not a multiple of numHeads 4/,
    );
    expect(
      () =>
        new TransformerLMTask(text, {
          name: 'crop',
          dModel: 8,
          numHeads: 2,
          maxPositions: 8,
          crop: { batchSize: 2, sequenceLength: 7 },
        }),
    ).toThrow(/crop: needs batches of at least \[2, 7\], the corpus gives \[2, 6\]/);
    treeDispose(p, batch);
  });
});
