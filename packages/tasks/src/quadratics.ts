import type { Datasets } from '@lopt/datasets';
import { type PRNGKey, random, stopGradient } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { BaseTask, BaseTaskFamily } from './base-task.js';
import type { BatchedTask } from './batched.js';
import { checkParamShapes, checkTensor } from './check.js';
import { generatedDatasets } from './generated-datasets.js';
import type { Aux } from './task.js';

function checkKeys(what: string, keys: readonly PRNGKey[], k: number): void {
  if (keys.length !== k) throw new Error(`${what}: ${k} parameter sets but ${keys.length} keys`);
}

/** The leading size of a stacked vector parameter `[K, dim]`. */
function stackSize(what: string, p: unknown, dim: number): number {
  checkTensor(what, 'params', p);
  if (p.rank !== 2 || p.shape[1] !== dim) {
    throw new Error(`${what}: stacked params have shape [${p.shape.join(', ')}] but this task expects [K, ${dim}]`);
  }
  return p.shape[0]!;
}

/** `sum(params^2)`: a quadratic bowl of dimension `dim` (10 by default), without data. */
export class QuadraticTask extends BaseTask<tf.Tensor, unknown> implements BatchedTask<tf.Tensor, unknown> {
  /** The number of parameters. */
  readonly dim: number;

  /** A bowl of `dim` parameters. */
  constructor(dim = 10) {
    super();
    this.dim = dim;
  }

  /** Standard normal parameters `[dim]`. */
  init(key: PRNGKey): tf.Tensor {
    return random.normal(key, [this.dim]);
  }

  /** `sum(params^2)`; `data` is ignored. */
  loss(params: tf.Tensor, _key: PRNGKey, _data?: unknown): tf.Scalar {
    checkParamShapes(this.name, [this.dim], params);
    return tf.tidy(() => tf.sum(tf.square(params))) as tf.Scalar;
  }

  /** The K losses of parameters stacked to `[K, dim]`. */
  batchedLoss(stackedParams: tf.Tensor, keys: readonly PRNGKey[], _data?: unknown): tf.Tensor1D {
    checkKeys(this.name, keys, stackSize(this.name, stackedParams, this.dim));
    return tf.tidy(() => tf.sum(tf.square(stackedParams), -1)) as tf.Tensor1D;
  }
}

/**
 * `sum(params^2)` over 10 parameters, with a dataset of noise batches (`[4, 2]` standard
 * normal) that the loss ignores: a data-driven task for testing training loops.
 */
export class BatchQuadraticTask extends QuadraticTask {
  /** Noise batches `[4, 2]`, drawn from `key` (PRNGKey(0) by default). */
  constructor(key: PRNGKey = random.PRNGKey(0)) {
    super(10);
    this.datasets = generatedDatasets(key, (k) => random.normal(k, [4, 2]), 'batch_quadratic');
  }
}

/** `log(sum(params^2))` over 10 parameters, without data. */
export class LogQuadraticTask extends BaseTask<tf.Tensor, unknown> implements BatchedTask<tf.Tensor, unknown> {
  /** Standard normal parameters `[10]`. */
  init(key: PRNGKey): tf.Tensor {
    return random.normal(key, [10]);
  }

  /** `log(sum(params^2))`; `data` is ignored. */
  loss(params: tf.Tensor, _key: PRNGKey, _data?: unknown): tf.Scalar {
    checkParamShapes(this.name, [10], params);
    return tf.tidy(() => tf.log(tf.sum(tf.square(params)))) as tf.Scalar;
  }

  /** The K losses of parameters stacked to `[K, 10]`. */
  batchedLoss(stackedParams: tf.Tensor, keys: readonly PRNGKey[], _data?: unknown): tf.Tensor1D {
    checkKeys(this.name, keys, stackSize(this.name, stackedParams, 10));
    return tf.tidy(() => tf.log(tf.sum(tf.square(stackedParams), -1))) as tf.Tensor1D;
  }
}

/** Parameters of `SumQuadraticTask`: two vectors of 10. */
export interface SumQuadraticParams {
  /** The first vector `[10]`. */
  a: tf.Tensor;
  /** The second vector `[10]`. */
  b: tf.Tensor;
}

/** `sum((a + b)^2)` over two parameter vectors of 10: a degenerate (flat-valley) quadratic. */
export class SumQuadraticTask
  extends BaseTask<SumQuadraticParams, unknown>
  implements BatchedTask<SumQuadraticParams, unknown>
{
  /** `a` and `b` standard normal, from the two halves of `split(key)`. */
  init(key: PRNGKey): SumQuadraticParams {
    const [k1, k2] = random.split(key);
    return { a: random.normal(k1!, [10]), b: random.normal(k2!, [10]) };
  }

  /** `sum((a + b)^2)`; `data` is ignored. */
  loss(params: SumQuadraticParams, _key: PRNGKey, _data?: unknown): tf.Scalar {
    checkParamShapes(this.name, { a: [10], b: [10] }, params);
    return tf.tidy(() => tf.sum(tf.square(tf.add(params.a, params.b)))) as tf.Scalar;
  }

  /** The K losses of parameters stacked to `{ a: [K, 10], b: [K, 10] }`. */
  batchedLoss(stackedParams: SumQuadraticParams, keys: readonly PRNGKey[], _data?: unknown): tf.Tensor1D {
    const k = stackSize(this.name, stackedParams.a, 10);
    checkParamShapes(this.name, { a: [10], b: [10] }, stackedParams, [k]);
    checkKeys(this.name, keys, k);
    return tf.tidy(() => tf.sum(tf.square(tf.add(stackedParams.a, stackedParams.b)), -1)) as tf.Tensor1D;
  }
}

/** Draws `n` standard normals from `key` as plain numbers. */
function normalNumbers(key: PRNGKey, n: number): number[] {
  const t = random.normal(key, [n]);
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

/** A task of `FixedDimQuadraticFamily`: `sum((target - params)^2)`. */
export class FixedDimQuadraticTask extends BaseTask<tf.Tensor, unknown> implements BatchedTask<tf.Tensor, unknown> {
  /** The target the parameters are pulled to. */
  readonly target: readonly number[];

  /** A quadratic centred on `target`. */
  constructor(target: readonly number[]) {
    super();
    this.target = target.slice();
  }

  /** Standard normal parameters of the target's dimension. */
  init(key: PRNGKey): tf.Tensor {
    return random.normal(key, [this.target.length]);
  }

  /** `sum((target - params)^2)`; `data` is ignored. */
  loss(params: tf.Tensor, _key: PRNGKey, _data?: unknown): tf.Scalar {
    checkParamShapes(this.name, [this.target.length], params);
    return tf.tidy(() => tf.sum(tf.squaredDifference(tf.tensor1d(this.target as number[]), params))) as tf.Scalar;
  }

  /** The K losses of parameters stacked to `[K, dim]`. */
  batchedLoss(stackedParams: tf.Tensor, keys: readonly PRNGKey[], _data?: unknown): tf.Tensor1D {
    checkKeys(this.name, keys, stackSize(this.name, stackedParams, this.target.length));
    return tf.tidy(() =>
      tf.sum(tf.squaredDifference(tf.tensor1d(this.target as number[]), stackedParams), -1),
    ) as tf.Tensor1D;
  }
}

/**
 * Quadratics of a fixed dimension (10 by default) with a sampled target: `sample` draws
 * the target (a plain array of standard normals), the task is `sum((target - params)^2)`.
 */
export class FixedDimQuadraticFamily extends BaseTaskFamily<number[], tf.Tensor, unknown, undefined> {
  /** The dimension of every task. */
  readonly dim: number;

  /** A family of `dim`-dimensional quadratics. */
  constructor(dim = 10) {
    super();
    this.dim = dim;
  }

  /** A target of `dim` standard normals. */
  sample(key: PRNGKey): number[] {
    return normalNumbers(key, this.dim);
  }

  /** The quadratic centred on `target`. */
  taskFn(target: number[]): FixedDimQuadraticTask {
    if (target.length !== this.dim)
      throw new Error(`${this.name}: the target has ${target.length} entries, expected ${this.dim}`);
    return new FixedDimQuadraticTask(target);
  }
}

/**
 * A task of `FixedDimQuadraticFamilyData`: `sum((target - params)^2) + data`, where the
 * data is a scalar of noise; reports `l2` and `l1` (means of `params^2`, `|params|`).
 */
export class FixedDimQuadraticDataTask extends FixedDimQuadraticTask {
  /** A quadratic centred on `target`, plus the noise of `datasets`. */
  constructor(target: readonly number[], datasets: Datasets) {
    super(target);
    this.datasets = datasets;
  }

  /** `sum((target - params)^2) + data`, with `data` a scalar. */
  override loss(params: tf.Tensor, _key: PRNGKey, data: unknown): tf.Scalar {
    checkParamShapes(this.name, [this.target.length], params);
    checkTensor(this.name, 'data', data);
    if (data.size !== 1) throw new Error(`${this.name}: data should be a scalar, got shape [${data.shape.join(', ')}]`);
    return tf.tidy(() =>
      tf.add(tf.sum(tf.squaredDifference(tf.tensor1d(this.target as number[]), params)), tf.reshape(data, [])),
    ) as tf.Scalar;
  }

  /** The K losses of stacked parameters `[K, dim]`; `data` is one scalar or `[K]` scalars. */
  override batchedLoss(stackedParams: tf.Tensor, keys: readonly PRNGKey[], data: unknown): tf.Tensor1D {
    const k = stackSize(this.name, stackedParams, this.target.length);
    checkKeys(this.name, keys, k);
    checkTensor(this.name, 'data', data);
    if (data.size !== 1 && !(data.rank === 1 && data.shape[0] === k)) {
      throw new Error(`${this.name}: data should be a scalar or [${k}], got shape [${data.shape.join(', ')}]`);
    }
    return tf.tidy(() =>
      tf.add(
        tf.sum(tf.squaredDifference(tf.tensor1d(this.target as number[]), stackedParams), -1),
        data.size === 1 ? tf.reshape(data, []) : data,
      ),
    ) as tf.Tensor1D;
  }

  /** The loss plus `l2 = mean(params^2)` and `l1 = mean(|params|)`. */
  override lossAndAux(params: tf.Tensor, key: PRNGKey, data: unknown): [tf.Scalar, Aux] {
    const l = this.loss(params, key, data);
    return [l, { l2: tf.tidy(() => tf.mean(tf.square(params))), l1: tf.tidy(() => tf.mean(tf.abs(params))) }];
  }

  /** Clips the loss to [0, 1000]. */
  override normalizer(loss: tf.Tensor): tf.Tensor {
    return tf.clipByValue(loss, 0, 1000);
  }
}

/**
 * Quadratics of dimension `dim` with a sampled target and a noisy scalar added from data
 * (standard normal draws, keyed by `key`). The tasks report `l2` and `l1` as aux.
 */
export class FixedDimQuadraticFamilyData extends BaseTaskFamily<number[], tf.Tensor, unknown, undefined> {
  /** The dimension of every task. */
  readonly dim: number;

  /** A family of `dim`-dimensional quadratics whose data stream is drawn from `key`. */
  constructor(dim: number, key: PRNGKey = random.PRNGKey(0)) {
    super();
    this.dim = dim;
    this.datasets = generatedDatasets(key, (k) => random.normal(k, []), 'noise');
  }

  /** A target of `dim` standard normals. */
  sample(key: PRNGKey): number[] {
    return normalNumbers(key, this.dim);
  }

  /** The noisy quadratic centred on `target`. */
  taskFn(target: number[]): FixedDimQuadraticDataTask {
    if (target.length !== this.dim)
      throw new Error(`${this.name}: the target has ${target.length} entries, expected ${this.dim}`);
    return new FixedDimQuadraticDataTask(target, this.datasets!);
  }
}

/** A config of `NoisyQuadraticFamily`: the centre and the per-coordinate scale. */
export interface NoisyQuadraticCfg {
  /** The minimum of the quadratic (standard normal draws). */
  center: number[];
  /** Per-coordinate scales, uniform in [0, 25). */
  scale: number[];
}

/**
 * A task of `NoisyQuadraticFamily`: `sum((scale * (center - params))^2)` whose gradient
 * carries multiplicative noise `cov * n * params` (n standard normal from the key) while
 * the loss value itself is noise-free.
 */
export class NoisyQuadraticTask extends BaseTask<tf.Tensor, unknown> implements BatchedTask<tf.Tensor, unknown> {
  /** The sampled centre and scale. */
  readonly cfg: NoisyQuadraticCfg;
  /** The gradient-noise scale. */
  readonly cov: number;

  /** The noisy quadratic of `cfg`, with gradient noise `cov`. */
  constructor(cfg: NoisyQuadraticCfg, cov: number) {
    super();
    this.cfg = { center: cfg.center.slice(), scale: cfg.scale.slice() };
    this.cov = cov;
  }

  /** Standard normal parameters. */
  init(key: PRNGKey): tf.Tensor {
    return random.normal(key, [this.cfg.center.length]);
  }

  private lossFrom(params: tf.Tensor, noise: tf.Tensor): tf.Tensor {
    const center = tf.tensor1d(this.cfg.center);
    const scale = tf.tensor1d(this.cfg.scale);
    const n = tf.mul(tf.mul(noise, this.cov), params);
    // The noise adds zero to the value but its own gradient to the parameters.
    const gradNoise = tf.sub(n, stopGradient(n));
    return tf.sum(tf.add(tf.square(tf.mul(scale, tf.sub(center, params))), gradNoise), -1);
  }

  /** The loss; `key` draws the gradient noise, `data` is ignored. */
  loss(params: tf.Tensor, key: PRNGKey, _data?: unknown): tf.Scalar {
    const dim = this.cfg.center.length;
    checkParamShapes(this.name, [dim], params);
    return tf.tidy(() => this.lossFrom(params, random.normal(key, [dim]))) as tf.Scalar;
  }

  /** The K losses of parameters stacked to `[K, dim]`, member i's noise drawn from `keys[i]`. */
  batchedLoss(stackedParams: tf.Tensor, keys: readonly PRNGKey[], _data?: unknown): tf.Tensor1D {
    const dim = this.cfg.center.length;
    checkKeys(this.name, keys, stackSize(this.name, stackedParams, dim));
    return tf.tidy(() =>
      this.lossFrom(stackedParams, tf.stack(keys.map((k) => random.normal(k, [dim])))),
    ) as tf.Tensor1D;
  }
}

/**
 * Quadratics with a sampled centre (standard normal) and scale (uniform in [0, 25)), whose
 * gradients are noisy: multiplicative noise of size `cov` on the gradient only.
 */
export class NoisyQuadraticFamily extends BaseTaskFamily<NoisyQuadraticCfg, tf.Tensor, unknown, undefined> {
  /** The dimension of every task. */
  readonly dim: number;
  /** The gradient-noise scale. */
  readonly cov: number;
  /** The upper end of the sampled scales. */
  readonly scaleConstant = 25;

  /** A family of `dim`-dimensional noisy quadratics with gradient noise `cov`. */
  constructor(dim: number, cov: number) {
    super();
    this.dim = dim;
    this.cov = cov;
  }

  /** Centre and scale, from the two halves of `split(key)`. */
  sample(key: PRNGKey): NoisyQuadraticCfg {
    const [k1, k2] = random.split(key);
    const u = random.uniform(k2!, [this.dim]);
    const scale = Array.from(u.dataSync(), (x) => x * this.scaleConstant);
    u.dispose();
    return { center: normalNumbers(k1!, this.dim), scale };
  }

  /** The noisy quadratic of `cfg`. */
  taskFn(cfg: NoisyQuadraticCfg): NoisyQuadraticTask {
    if (cfg.center.length !== this.dim || cfg.scale.length !== this.dim) {
      throw new Error(
        `${this.name}: the config has ${cfg.center.length} centres and ${cfg.scale.length} scales, expected ${this.dim}`,
      );
    }
    return new NoisyQuadraticTask(cfg, this.cov);
  }
}
