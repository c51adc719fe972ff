import { jargonFileDatasets, type TextBatch, type TextDatasets } from '@lopt/datasets';
import { random, treeDispose, valueAndGrad } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchedLoss, stackParams } from './batched.js';
import { getTask, listTasks } from './registry.js';
import { RNN_CELLS, type RNNCellName, type RNNLMParams, RNNLMTask } from './rnn-lm.js';
import { expectGradientsMatchWithoutLeaks } from './test-helpers.js';

let text: TextDatasets;
beforeAll(async () => {
  text = await jargonFileDatasets({ cacheRoot: null, batchSize: 2, sequenceLength: 5, key: random.PRNGKey(4) });
});

const tiny = (cell: RNNCellName) => new RNNLMTask(text, { name: `tiny_${cell}`, cell, hiddenSize: 4, embedSize: 3 });

// Plain float64 forward pass of the same model, written from the cell equations.
function referenceLoss(cell: RNNCellName, p: RNNLMParams, obs: number[][], target: number[][]): number {
  const get = (t: tf.Tensor) => ({ v: Array.from(t.dataSync(), Number), s: t.shape });
  const emb = get(p.embed.embeddings);
  const wi = get(p.core.w_i);
  const wh = get(p.core.w_h);
  const b = get(p.core.b).v;
  const wo = get(p.linear.w);
  const bo = get(p.linear.b).v;
  const E = emb.s[1]!;
  const H = wh.s[0]!;
  const G = wh.s[1]!;
  const V = wo.s[1]!;
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const mv = (x: number[], w: { v: number[]; s: number[] }, cols: number, from = 0, to = cols) =>
    Array.from({ length: to - from }, (_, j) => x.reduce((acc, xi, i) => acc + xi * w.v[i * cols + from + j]!, 0));
  let total = 0;
  let count = 0;
  for (let r = 0; r < obs.length; r++) {
    let h = Array.from(p.initial_state.initial_state_0!.dataSync(), Number);
    let c = cell === 'LSTM' ? Array.from(p.initial_state.initial_state_1!.dataSync(), Number) : [];
    for (let t = 0; t < obs[r]!.length; t++) {
      const x = emb.v.slice(obs[r]![t]! * E, (obs[r]![t]! + 1) * E);
      const xp = mv(x, wi, G).map((v, j) => v + b[j]!);
      if (cell === 'VanillaRNN') {
        const hp = mv(h, wh, G);
        h = xp.map((v, j) => Math.tanh(v + hp[j]!));
      } else if (cell === 'GRU') {
        const hzr = mv(h, wh, G, 0, 2 * H);
        const z = Array.from({ length: H }, (_, j) => sig(xp[j]! + hzr[j]!));
        const rr = Array.from({ length: H }, (_, j) => sig(xp[H + j]! + hzr[H + j]!));
        const ha = mv(
          h.map((v, j) => v * rr[j]!),
          wh,
          G,
          2 * H,
          3 * H,
        );
        const a = Array.from({ length: H }, (_, j) => Math.tanh(xp[2 * H + j]! + ha[j]!));
        h = h.map((v, j) => (1 - z[j]!) * v + z[j]! * a[j]!);
      } else {
        const g = mv(h, wh, G).map((v, j) => v + xp[j]!);
        const at = (k: number, j: number) => g[k * H + j]!;
        c = c.map((cv, j) => sig(at(2, j) + 1) * cv + sig(at(0, j)) * Math.tanh(at(1, j)));
        h = c.map((cv, j) => sig(at(3, j)) * Math.tanh(cv));
      }
      const logits = mv(h, wo, V).map((v, j) => v + bo[j]!);
      const m = Math.max(...logits);
      const lse = m + Math.log(logits.reduce((acc, l) => acc + Math.exp(l - m), 0));
      total += lse - logits[target[r]![t]!]!;
      count++;
    }
  }
  return total / count;
}

describe.each(RNN_CELLS)('RNNLMTask with a %s core', (cell) => {
  it('matches a float64 reference of the cell equations on real text', () => {
    const task = tiny(cell);
    // Non-zero initial states and biases, so every parameter enters the check.
    const p0 = task.init(random.PRNGKey(1));
    const p = tf.tidy(() => ({
      ...p0,
      core: { ...p0.core, b: random.normal(random.PRNGKey(2), p0.core.b.shape) },
      initial_state: Object.fromEntries(
        Object.entries(p0.initial_state).map(([k, v], i) => [
          k,
          tf.mul(random.normal(random.PRNGKey(10 + i), v.shape), 0.5),
        ]),
      ),
    })) as RNNLMParams;
    const batch = text.train.next().value;
    const got = tf.tidy(() => task.loss(p, random.PRNGKey(0), batch).dataSync()[0]!);
    const want = referenceLoss(cell, p, batch.obs.arraySync(), batch.target.arraySync());
    expect(Math.abs(got - want)).toBeLessThan(1e-5 * Math.max(1, want));
    treeDispose(p0, p, batch);
  });

  it('has gradients that match finite differences, and leaks nothing', () => {
    const task = tiny(cell);
    expectGradientsMatchWithoutLeaks(task, task.init(random.PRNGKey(3)), text.train.next().value, 3);
  });

  it('evaluates K stacked problems in one batched loss equal to K separate losses', () => {
    const task = tiny(cell);
    const members = [0, 1, 2].map((s) => task.init(random.PRNGKey(20 + s)));
    const stacked = stackParams(members);
    const batch = text.train.next().value;
    const keys = [0, 1, 2].map((s) => random.PRNGKey(s));
    const together = batchedLoss(task, stacked, keys, batch);
    expect(together.shape).toEqual([3]);
    const got = Array.from(together.dataSync());
    members.forEach((m, i) => {
      const l = task.loss(m, keys[i]!, batch);
      expect(got[i]).toBeCloseTo(l.dataSync()[0]!, 5);
      l.dispose();
    });
    // Member 1's gradient through the batched loss is its own gradient.
    const [, gb] = valueAndGrad((s: RNNLMParams) => tf.sum(task.batchedLoss(s, keys, batch)) as tf.Scalar)(stacked);
    const [, g1] = valueAndGrad(task.loss)(members[1]!, keys[1]!, batch);
    const row = tf.tidy(() => tf.squeeze(tf.slice(gb.core.w_h, [1, 0, 0], [1, -1, -1]), [0]));
    expect(Math.max(...Array.from(tf.tidy(() => tf.abs(tf.sub(row, g1.core.w_h))).dataSync()))).toBeLessThan(1e-5);
    treeDispose(members, stacked, batch, together, gb, g1, row);
  });
});

describe('RNNLMTask', () => {
  it('starts near ln(256) nats per byte on the fixed tasks', async () => {
    for (const name of [
      'RNNLM_JargonByte_Patch32_VanillaRNN64_Embed32',
      'RNNLM_JargonByte_Patch32_GRU64_Embed32',
      'RNNLM_JargonByte_Patch32_LSTM64_Embed32',
    ]) {
      expect(listTasks()).toContain(name);
      const task = await getTask(name, { cacheRoot: null, batchSize: 4 });
      const p = task.init(random.PRNGKey(0));
      const batch = task.datasets!.train.next().value as unknown as TextBatch;
      expect(batch.obs.shape).toEqual([4, 32]);
      const l = task.loss(p, random.PRNGKey(0), batch);
      // Random output weights of scale 1/sqrt(fan-in) add about half a nat to ln(256) = 5.55.
      expect(l.dataSync()[0]).toBeGreaterThan(Math.log(256) - 0.1);
      expect(l.dataSync()[0]).toBeLessThan(Math.log(256) + 1);
      const norm = task.normalizer(l);
      expect(norm.dataSync()[0]).toBeCloseTo(((l.dataSync()[0]! - Math.log(256 / 5)) * 10) / Math.log(256), 4);
      treeDispose(p, batch, l, norm);
    }
  });

  it("rejects a corpus whose vocabulary is not the model's, and malformed batches, with clear errors", () => {
    expect(
      () => new RNNLMTask(text, { name: 'small_vocab', cell: 'GRU', hiddenSize: 4, embedSize: 3, vocabSize: 128 }),
    ).toThrow(
      /small_vocab: the corpus 'jargon_file' has a vocabulary of 256 tokens but the task's embedding and output layer have 128/,
    );
    expect(() => new RNNLMTask(text, { name: 'x', cell: 'Elman' as never, hiddenSize: 4, embedSize: 3 })).toThrow(
      /unknown cell 'Elman'/,
    );
    expect(
      () =>
        new RNNLMTask(text, {
          name: 'crop',
          cell: 'GRU',
          hiddenSize: 4,
          embedSize: 3,
          crop: { batchSize: 3, sequenceLength: 5 },
        }),
    ).toThrow(/crop: needs batches of at least \[3, 5\], the corpus gives \[2, 5\]/);
    const task = tiny('LSTM');
    const p = task.init(random.PRNGKey(0));
    const bad = { obs: tf.zeros([2, 5], 'int32'), target: tf.zeros([2, 4], 'int32') } as unknown as TextBatch;
    expect(() => task.loss(p, random.PRNGKey(0), bad)).toThrow(
      /obs \[2, 5\] and target \[2, 4\] must both be \[batch, sequence\]/,
    );
    const floats = { obs: tf.zeros([2, 5]), target: tf.zeros([2, 5]) } as unknown as TextBatch;
    expect(() => task.loss(p, random.PRNGKey(0), floats)).toThrow(/must be int32 token ids/);
    treeDispose(p, bad, floats);
  });
});
