import { type PRNGKey, type PyTree, random, tidy, treeLeaves } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { BaseTaskFamily } from '../base-task.js';
import { assertKnownKeys, closestName, positiveRange } from '../options-check.js';
import type { Task, TaskFamily } from '../task.js';
import { ReducedBatchsize } from './reduced-batchsize.js';
import { ReparamWeights } from './reparam-weights.js';
import { ScaleGradient, ScaleLoss } from './scale-loss.js';

/** The augmentation kinds {@link AugmentedTaskFamily} can sample. */
export const AUGMENTATION_KINDS = ['none', 'reparamWeights', 'scaleLoss', 'scaleGradient', 'reducedBatchsize'] as const;

/** One augmentation kind. */
export type AugmentationKind = (typeof AUGMENTATION_KINDS)[number];

/**
 * One entry of an augmentation list (plain data, as a recipe file holds it): the kind,
 * its relative `weight` (default 1) and the range its strength is drawn from.
 *
 * - `none`: the task unchanged.
 * - `reparamWeights`: {@link ReparamWeights} with a scale log-uniform in `range`
 *   (default [0.01, 100], the reference's) drawn per task (`level: 'global'`), per
 *   parameter tensor (`'tensor'`) or per element (`'parameter'`).
 * - `scaleLoss`: {@link ScaleLoss} with a scale log-uniform in `range` (default [0.01, 100]).
 * - `scaleGradient`: {@link ScaleGradient} with a scale log-uniform in `range` (default [0.01, 100]).
 * - `reducedBatchsize`: {@link ReducedBatchsize} with a fraction log-uniform in `range`
 *   (default [0.1, 1]).
 */
export interface AugmentationSpec {
  /** Which augmentation. */
  kind: AugmentationKind;
  /** Relative probability among the list's entries (default 1). */
  weight?: number;
  /** Where the strength is drawn from, log-uniformly. */
  range?: [number, number];
  /** `reparamWeights` only: one scale per task, per tensor or per element (default `'global'`). */
  level?: 'global' | 'tensor' | 'parameter';
}

/** The augmentation a task drew: plain data, part of the task's config. */
export type AugmentationCfg =
  | { kind: 'none' }
  | { kind: 'reparamWeights'; level: 'global'; paramScale: number }
  | { kind: 'reparamWeights'; level: 'tensor' | 'parameter'; key: number[]; range: [number, number] }
  | { kind: 'scaleLoss'; scale: number }
  | { kind: 'scaleGradient'; scale: number }
  | { kind: 'reducedBatchsize'; fraction: number };

const DEFAULT_RANGES: Record<AugmentationKind, [number, number]> = {
  none: [1, 1],
  reparamWeights: [0.01, 100],
  scaleLoss: [0.01, 100],
  scaleGradient: [0.01, 100],
  reducedBatchsize: [0.1, 1],
};

/** Checks one augmentation entry (unknown keys, kinds, ranges) and returns it. */
export function parseAugmentationSpec(spec: unknown, where = 'augmentation'): AugmentationSpec {
  assertKnownKeys(spec, ['kind', 'weight', 'range', 'level'], where);
  const kind = spec.kind;
  if (typeof kind !== 'string' || !(AUGMENTATION_KINDS as readonly string[]).includes(kind)) {
    const near = typeof kind === 'string' ? closestName(kind, AUGMENTATION_KINDS) : undefined;
    throw new Error(
      `${where}.kind: unknown augmentation ${JSON.stringify(kind)}${near ? ` (did you mean '${near}'?)` : ''}; kinds: ${AUGMENTATION_KINDS.join(', ')}`,
    );
  }
  const out: AugmentationSpec = { kind: kind as AugmentationKind };
  if (spec.weight !== undefined) {
    if (typeof spec.weight !== 'number' || !(spec.weight > 0) || !Number.isFinite(spec.weight)) {
      throw new Error(`${where}.weight: must be a positive number, got ${JSON.stringify(spec.weight)}`);
    }
    out.weight = spec.weight;
  }
  if (spec.range !== undefined) {
    if (kind === 'none') throw new Error(`${where}.range: the 'none' augmentation takes no range`);
    out.range = positiveRange(spec.range, `${where}.range`, { allowEqual: true });
    if (kind === 'reducedBatchsize' && out.range[1] > 1) {
      throw new Error(`${where}.range: batch-size fractions must be at most 1, got ${JSON.stringify(spec.range)}`);
    }
  }
  if (spec.level !== undefined) {
    if (kind !== 'reparamWeights') throw new Error(`${where}.level: only 'reparamWeights' takes a level`);
    if (!['global', 'tensor', 'parameter'].includes(spec.level as string)) {
      throw new Error(`${where}.level: must be 'global', 'tensor' or 'parameter', got ${JSON.stringify(spec.level)}`);
    }
    out.level = spec.level as AugmentationSpec['level'];
  }
  return out;
}

function logUniform(key: PRNGKey, [lo, hi]: readonly [number, number]): number {
  if (lo === hi) return lo;
  const u = random.uniform(key, [], Math.log(lo), Math.log(hi));
  const v = Math.exp(u.dataSync()[0]!);
  u.dispose();
  return v;
}

/** The augmentation `spec` draws with `key` (plain data). */
export function sampleAugmentation(spec: AugmentationSpec, key: PRNGKey): AugmentationCfg {
  const range = spec.range ?? DEFAULT_RANGES[spec.kind];
  switch (spec.kind) {
    case 'none':
      return { kind: 'none' };
    case 'reparamWeights': {
      const level = spec.level ?? 'global';
      if (level === 'global') return { kind: 'reparamWeights', level, paramScale: logUniform(key, range) };
      return { kind: 'reparamWeights', level, key: Array.from(key), range: [range[0], range[1]] };
    }
    case 'scaleLoss':
      return { kind: 'scaleLoss', scale: logUniform(key, range) };
    case 'scaleGradient':
      return { kind: 'scaleGradient', scale: logUniform(key, range) };
    case 'reducedBatchsize':
      return { kind: 'reducedBatchsize', fraction: Math.min(1, logUniform(key, range)) };
  }
}

/** `task` with the augmentation `cfg` applied. */
export function applyAugmentation<P, D, S>(task: Task<P, D, S>, cfg: AugmentationCfg): Task<P, D, S> {
  switch (cfg.kind) {
    case 'none':
      return task;
    case 'reparamWeights': {
      if (cfg.level === 'global') return new ReparamWeights(task, cfg.paramScale);
      if (cfg.level === 'parameter') return new ReparamWeights(task, { key: cfg.key, range: cfg.range });
      // One scale per tensor: log-uniform numbers from one key per tensor, found from the parameter count.
      const n = countParamTensors(task);
      const keys = random.split(Uint32Array.from(cfg.key) as PRNGKey, n);
      return new ReparamWeights(
        task,
        keys.map((k) => logUniform(k, cfg.range)),
      );
    }
    case 'scaleLoss':
      return new ScaleLoss(task, cfg.scale);
    case 'scaleGradient':
      return new ScaleGradient(task, cfg.scale);
    case 'reducedBatchsize':
      return new ReducedBatchsize(task, cfg.fraction);
  }
}

function countParamTensors(task: Task): number {
  return tidy(() => {
    const leaves = treeLeaves(task.init(random.PRNGKey(0)) as PyTree<unknown>);
    return leaves.filter((l) => l instanceof tf.Tensor).length;
  });
}

/** A task config of an {@link AugmentedTaskFamily}: the wrapped family's and the drawn augmentation. */
export interface AugmentedTaskCfg<Cfg = unknown> {
  /** The wrapped family's config. */
  inner: Cfg;
  /** The augmentation this task drew. */
  augmentation: AugmentationCfg;
}

/**
 * A family whose every task is one of the wrapped family's with an augmentation drawn
 * for it (the reference's `ReparamWeightsFamily`, `ReducedBatchsizeFamily` and
 * `WrappedTaskFamilyWithTaskWrapper`, generalised to a weighted list as its later
 * meta-training setups use). From `key`: the wrapped config, which entry of the list
 * (by weight), and the entry's strength. The same key gives the same config.
 */
export class AugmentedTaskFamily<Cfg = unknown> extends BaseTaskFamily<AugmentedTaskCfg<Cfg>> {
  /** The checked augmentation list. */
  readonly augmentations: readonly AugmentationSpec[];
  private readonly cumulative: number[];

  /** Wraps `family`; `augmentations` is a non-empty list (checked as a recipe's would be). */
  constructor(
    readonly family: TaskFamily<Cfg>,
    augmentations: readonly AugmentationSpec[],
  ) {
    super();
    if (!Array.isArray(augmentations) || augmentations.length === 0) {
      throw new Error('AugmentedTaskFamily: give at least one augmentation (use { kind: "none" } for unchanged tasks)');
    }
    this.augmentations = augmentations.map((a, i) => parseAugmentationSpec(a, `augmentations[${i}]`));
    const total = this.augmentations.reduce((s, a) => s + (a.weight ?? 1), 0);
    let acc = 0;
    this.cumulative = this.augmentations.map((a) => (acc += (a.weight ?? 1) / total));
    this.datasets = family.datasets;
  }

  /** `Augmented_<family>`. */
  override get name(): string {
    return `Augmented_${this.family.name}`;
  }

  /** The wrapped config and a drawn augmentation. */
  sample(key: PRNGKey): AugmentedTaskCfg<Cfg> {
    const [k1, k2, k3] = random.split(key, 3);
    const inner = this.family.sample(k1!);
    const u = random.uniform(k2!, []);
    const x = u.dataSync()[0]!;
    u.dispose();
    let idx = this.cumulative.findIndex((c) => x < c);
    if (idx < 0) idx = this.augmentations.length - 1;
    return { inner, augmentation: sampleAugmentation(this.augmentations[idx]!, k3!) };
  }

  /** The wrapped family's task with the config's augmentation. */
  taskFn(cfg: AugmentedTaskCfg<Cfg>): Task {
    return applyAugmentation(this.family.taskFn(cfg.inner), cfg.augmentation);
  }

  /** The wrapped family's evaluation task with the config's augmentation. */
  override evalTaskFn(cfg: AugmentedTaskCfg<Cfg>): Task {
    return applyAugmentation(this.family.evalTaskFn(cfg.inner), cfg.augmentation);
  }
}
