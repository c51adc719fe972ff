import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GradientEstimator } from '@lopt/outer-trainers';

/**
 * Where a thread finds a gradient estimator: functions cannot cross threads, so each
 * thread imports `module` and calls its export `exportName` with `args` (plain data,
 * copied by the structured clone) and its shard. The export is an
 * `EstimatorFactory`.
 *
 * ```ts
 * // my-estimators.ts
 * export function pes(args: { numTasks: number }, shard: ShardInfo) {
 *   return new TruncatedPES(new VectorizedLOptTruncatedStep(family, lopt, schedule, args.numTasks), { truncLength: 10 });
 * }
 * // caller
 * { module: new URL('./my-estimators.ts', import.meta.url).href, exportName: 'pes', args: { numTasks: 4 } }
 * ```
 */
export interface EstimatorModuleSpec {
  /**
   * The module: a `file:` URL (`new URL('./x.js', import.meta.url).href`) or an absolute
   * path. A bare package name is resolved from `@lopt/distributed`'s own location.
   * A `.ts` module needs `tsx` installed (it is registered in the thread to load it).
   */
  module: string;
  /** The export to call (default `default`). */
  exportName?: string;
  /** The factory's arguments: plain data only (they are copied to every thread). */
  args?: unknown;
}

/** Which shard a factory builds: `shard` of `numShards` (0 runs on the calling thread when it computes one). */
export interface ShardInfo {
  /** The shard's index, 0 .. numShards - 1. */
  shard: number;
  /** How many shards the estimate is split into. */
  numShards: number;
}

/** What an `EstimatorModuleSpec`'s export must be: builds one shard's estimator (sync or async). */
export type EstimatorFactory<Theta = unknown> = (
  args: unknown,
  shard: ShardInfo,
) => GradientEstimator<Theta> | Promise<GradientEstimator<Theta>>;

/** The spec's module as an import specifier: absolute paths become `file:` URLs. */
export function moduleUrl(spec: EstimatorModuleSpec): string {
  return isAbsolute(spec.module) ? pathToFileURL(spec.module).href : spec.module;
}

/** Imports the spec's module and builds shard `shard`'s estimator. */
export async function loadEstimator<Theta = unknown>(
  spec: EstimatorModuleSpec,
  shard: ShardInfo,
): Promise<GradientEstimator<Theta>> {
  const url = moduleUrl(spec);
  const name = spec.exportName ?? 'default';
  const mod = (await import(/* @vite-ignore */ url)) as Record<string, unknown>;
  const factory = mod[name];
  if (typeof factory !== 'function') {
    const exported = Object.keys(mod).join(', ') || 'nothing';
    throw new Error(`estimator module ${url}: export '${name}' is not a function (it exports ${exported})`);
  }
  const est = await (factory as EstimatorFactory<Theta>)(spec.args, shard);
  if (!est || typeof (est as GradientEstimator<Theta>).computeGradientEstimate !== 'function') {
    throw new Error(`estimator module ${url}: '${name}' did not return a GradientEstimator`);
  }
  return est;
}
