import type { PRNGKey } from '@lopt/pytree';
import type { ImageTaskOptions } from './image-data.js';
import type { TaskFamily } from './task.js';

/**
 * A distribution over task families (the reference's `sample_image_mlp`,
 * `sample_image_conv`, ... paired with the family each sample builds): `sample` draws a
 * plain config from a key, the same on every backend, and `familyFn` builds the family it
 * describes, loading its data. Meta-training samples several families, trains on each
 * for a while and resamples them (`TaskFamily` alone cannot express families whose
 * tasks need different data streams, image sizes or batch sizes).
 */
export interface TaskDistribution<Cfg = unknown> {
  /** The distribution's name. */
  readonly name: string;
  /** A family config drawn from `key` (plain data: it can be logged, stored and compared). */
  sample(key: PRNGKey): Cfg;
  /** The family `cfg` describes; `opts` says where its data is (image families load it). */
  familyFn(cfg: Cfg, opts?: ImageTaskOptions): Promise<TaskFamily>;
}

/** `familyFn(sample(key))`: one family drawn from `distribution`. */
export function sampleTaskFamily<Cfg>(
  distribution: TaskDistribution<Cfg>,
  key: PRNGKey,
  opts: ImageTaskOptions = {},
): Promise<TaskFamily> {
  return distribution.familyFn(distribution.sample(key), opts);
}
