import type { PRNGKey } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import type { SingleMachineState } from './gradient-learner.js';
import { decodeTree, encodeTree } from './serialization.js';
import { disposeExcept } from './tree-utils.js';

/** The `format` field of every checkpoint this package writes. */
export const CHECKPOINT_FORMAT = 'lopt-outer-trainers-checkpoint';
/** The checkpoint format version. */
export const CHECKPOINT_VERSION = 1;

/** Everything needed to continue meta-training exactly where it stopped. */
export interface MetaTrainingCheckpoint<Theta = unknown> {
  /** The whole meta-training state: theta, outer-optimizer state, estimator (unroll) states. */
  state: SingleMachineState<Theta>;
  /** The outer iteration the state is at. */
  outerIteration: number;
  /** The run's PRNG key (per-step keys are folded from it with the outer iteration). */
  key: PRNGKey;
  /** The configuration fingerprint of the run that wrote it. */
  fingerprint: string;
  /** Plain data the caller stores alongside (losses so far, ...). */
  extra?: unknown;
}

function canonical(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(canonical);
  if (x !== null && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x).sort()) out[k] = canonical((x as Record<string, unknown>)[k]);
    return out;
  }
  return x;
}

/**
 * A short fingerprint of a run's configuration (any JSON data: task family, learned
 * optimizer, estimator settings, seed): FNV-1a (64-bit) of its canonical JSON.
 */
export function configFingerprint(config: unknown): string {
  const s = JSON.stringify(canonical(config)) ?? 'undefined';
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/** The checkpoint as JSON text (see `encodeTree` for how tensors are stored). */
export function serializeCheckpoint<Theta>(ckpt: MetaTrainingCheckpoint<Theta>): string {
  return JSON.stringify({
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    fingerprint: ckpt.fingerprint,
    outerIteration: ckpt.outerIteration,
    key: Array.from(ckpt.key),
    extra: ckpt.extra === undefined ? null : ckpt.extra,
    state: encodeTree(ckpt.state),
  });
}

function shapesOf(tree: unknown, path: string, out: Map<string, string>): void {
  if (tree instanceof tf.Tensor) out.set(path || '<root>', `[${tree.shape.join(', ')}] ${tree.dtype}`);
  else if (Array.isArray(tree)) tree.forEach((x, i) => shapesOf(x, `${path}[${i}]`, out));
  else if (tree !== null && typeof tree === 'object' && !(tree instanceof Uint32Array)) {
    for (const k of Object.keys(tree).sort()) shapesOf((tree as Record<string, unknown>)[k], `${path}.${k}`, out);
  }
}

/** Throws an error naming the first leaf where two thetas differ in structure, shape or dtype. */
export function assertSameTheta(expected: unknown, got: unknown, what = 'theta'): void {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  shapesOf(expected, '', a);
  shapesOf(got, '', b);
  for (const [p, s] of a) {
    if (!b.has(p)) throw new Error(`${what} does not match: missing leaf ${p} (expected ${s})`);
    if (b.get(p) !== s) throw new Error(`${what} does not match at ${p}: expected ${s}, got ${b.get(p)}`);
  }
  for (const [p, s] of b) if (!a.has(p)) throw new Error(`${what} does not match: unexpected leaf ${p} (${s})`);
}

/** Options of `deserializeCheckpoint`. */
export interface DeserializeCheckpointOptions {
  /** The fingerprint of the configuration resuming; a different one is an error. */
  fingerprint?: string;
  /** A theta of the learned optimizer resuming; a checkpoint whose theta differs is an error. */
  thetaTemplate?: unknown;
  /**
   * The configuration resuming (what `fingerprint` was computed from). When the
   * fingerprints differ and the checkpoint's `extra.config` holds the writer's
   * configuration (as `metaTrain` stores it), the error names the settings that differ.
   */
  config?: unknown;
}

function show(x: unknown): string {
  return x === undefined ? 'unset' : JSON.stringify(x);
}

/**
 * The settings in which two configurations differ, as `name: a -> b` lines (nested
 * settings by dotted path), in a stable order; empty when they are equal.
 */
export function configDifferences(saved: unknown, current: unknown, path = ''): string[] {
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (isObj(saved) && isObj(current)) {
    const keys = [...new Set([...Object.keys(saved), ...Object.keys(current)])].sort();
    return keys.flatMap((k) => configDifferences(saved[k], current[k], path ? `${path}.${k}` : k));
  }
  if (JSON.stringify(canonical(saved)) === JSON.stringify(canonical(current))) return [];
  return [`${path || 'config'}: ${show(saved)} -> ${show(current)}`];
}

/**
 * Reads a checkpoint written by `serializeCheckpoint`, checking its format, version,
 * configuration fingerprint and theta (structure and shapes).
 */
export function deserializeCheckpoint<Theta>(
  text: string,
  opts: DeserializeCheckpointOptions = {},
): MetaTrainingCheckpoint<Theta> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`checkpoint: not valid JSON (${(e as Error).message}); the file is corrupt or truncated`);
  }
  if (raw?.format !== CHECKPOINT_FORMAT)
    throw new Error(`checkpoint: not a ${CHECKPOINT_FORMAT} file (format: ${String(raw?.format)})`);
  if (raw.version !== CHECKPOINT_VERSION) {
    throw new Error(
      `checkpoint: version ${String(raw.version)} is not supported (this library reads version ${CHECKPOINT_VERSION})`,
    );
  }
  if (opts.fingerprint !== undefined && raw.fingerprint !== opts.fingerprint) {
    const saved = (raw.extra as { config?: unknown } | null)?.config;
    const diff = saved !== undefined && opts.config !== undefined ? configDifferences(saved, opts.config) : [];
    const what =
      diff.length > 0
        ? `settings differ (checkpoint -> this run): ${diff.join('; ')}`
        : `fingerprint ${String(raw.fingerprint)}, this run has ${opts.fingerprint}`;
    throw new Error(`checkpoint: it was written by another configuration (${what})`);
  }
  const state = decodeTree(raw.state) as SingleMachineState<Theta>;
  const params = state?.gradientLearnerState?.thetaOptState?.params;
  if (params === undefined || !Array.isArray(state.gradientEstimatorStates)) {
    disposeExcept(state);
    throw new Error('checkpoint: the state is not a meta-training state (no theta or estimator states)');
  }
  if (opts.thetaTemplate !== undefined) {
    try {
      assertSameTheta(opts.thetaTemplate, params, 'checkpoint theta');
    } catch (e) {
      disposeExcept(state);
      throw e;
    }
  }
  const key = Uint32Array.from(raw.key as number[]) as PRNGKey;
  return {
    state,
    outerIteration: raw.outerIteration as number,
    key,
    fingerprint: raw.fingerprint as string,
    extra: raw.extra === null ? undefined : raw.extra,
  };
}
