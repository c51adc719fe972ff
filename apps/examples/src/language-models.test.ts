import { expect, it } from 'vitest';
import { runLanguageModels } from './language-models.js';

it('trains the byte-level GRU language model on the Jargon File below 3.0 nats per byte in 60 steps', async () => {
  const r = await runLanguageModels({
    steps: 60,
    batchSize: 16,
    logEvery: 59,
    data: { cacheRoot: null },
    log: () => {},
  });
  expect(r.firstWindow).toHaveLength(32);
  expect(r.test[0]![1]).toBeGreaterThan(5); // about ln 256 before training
  expect(r.test[r.test.length - 1]![1]).toBeLessThan(3.0);
  expect(r.sampledTasks.filter((n) => n.startsWith('ParametricLMRNN_'))).toHaveLength(3);
  expect(r.sampledTasks.filter((n) => n.startsWith('ParametricLMTransformer_'))).toHaveLength(3);
  expect(r.svg).toMatch(/^<svg /);
  expect(r.svg).toContain('Adam step');
  expect(r.leakedTensors).toBe(0);
}, 300_000);
