import * as learnedLib from '@lopt/learned';
import { LearnedOptimizer } from '@lopt/learned';
import * as optimizersLib from '@lopt/optimizers';
import { Optimizer } from '@lopt/optimizers';
import { CliError, oneLine } from './errors.js';
import { resolveName, unknownName } from './names.js';

type OptimizerClass = new (learningRate?: number) => Optimizer;
type LearnedClass = new () => LearnedOptimizer;

// Base classes and building blocks that are not optimizers one picks by name.
const NOT_PICKABLE = new Set(['Optimizer', 'OptaxOptimizer', 'LearnedOptimizer']);

function subclassesOf<C>(
  mod: Record<string, unknown>,
  base: abstract new (...args: never[]) => unknown,
): Map<string, C> {
  const out = new Map<string, C>();
  for (const [name, value] of Object.entries(mod)) {
    if (NOT_PICKABLE.has(name) || typeof value !== 'function') continue;
    const proto = (value as { prototype?: unknown }).prototype;
    if (proto instanceof base) out.set(name, value as C);
  }
  return out;
}

function builds(f: () => { name: string }): boolean {
  try {
    return !f().name.includes('undefined');
  } catch {
    return false;
  }
}

// Hand-designed optimizers built from a learning rate alone (the reference's convention:
// it comes first). Wrappers, which take another optimizer, are left out.
const hand = new Map(
  [...subclassesOf<OptimizerClass>(optimizersLib as unknown as Record<string, unknown>, Optimizer)].filter(([, C]) =>
    builds(() => new C(0.01)),
  ),
);
// Learned optimizers with a default configuration (combinators taking other ones are left out).
const learned = new Map(
  [...subclassesOf<LearnedClass>(learnedLib as unknown as Record<string, unknown>, LearnedOptimizer)].filter(([, C]) =>
    builds(() => new C()),
  ),
);

/** The learning rate `name` uses without `--lr`: a number, `'own'` (a rule of its own), or `'required'`. */
export function defaultLearningRate(name: string): number | 'own' | 'required' {
  const C = hand.get(name);
  if (!C || !builds(() => new C())) return 'required';
  const lr = (new C() as { learningRate?: unknown }).learningRate;
  return typeof lr === 'number' ? lr : 'own';
}

/** Names of the hand-designed optimizers, sorted. */
export function optimizerNames(): string[] {
  return [...hand.keys()].sort();
}

/** Names of the learned optimizers, sorted. */
export function learnedOptimizerNames(): string[] {
  return [...learned.keys()].sort();
}

/** The hand-designed optimizer `name` with learning rate `lr` (its default when omitted). */
export function makeOptimizer(given: string, lr?: number): Optimizer {
  const name = resolveName(given, optimizerNames()) ?? given;
  const C = hand.get(name);
  if (!C) {
    const hint = learned.has(name) ? ` ('${name}' is a learned optimizer: use --lopt ${name})` : '';
    if (hint) throw new CliError(`unknown optimizer '${name}'${hint}`);
    throw unknownName('optimizer', name, optimizerNames(), 'lopt optimizers');
  }
  if (lr === undefined && !builds(() => new C())) throw new CliError(`${name} has no default learning rate: pass --lr`);
  try {
    return lr === undefined ? new C() : new C(lr);
  } catch (e) {
    throw new CliError(`could not create ${name}: ${oneLine(e)}`);
  }
}

/** The registered spelling of the learned optimizer `name` (case-insensitive), or `name`. */
export function canonicalLoptName(name: string): string {
  return resolveName(name, learnedOptimizerNames()) ?? name;
}

// Learned optimizers whose published theta ships with @lopt/learned: they run without a
// theta file, and `--optimizer` picks them like a hand-designed one (`--lr` sets their learning rate).
const PRETRAINED: Record<string, { make: (lr?: number) => LearnedOptimizer; theta: () => unknown }> = {
  Celo2: {
    make: (lr) => new learnedLib.Celo2(lr === undefined ? {} : { learningRate: lr }),
    theta: learnedLib.celo2Theta,
  },
};

/** The pretrained learned optimizer `name` (case-insensitive) with its published theta, or undefined. */
export function pretrainedOptimizer(name: string, lr?: number): { lopt: LearnedOptimizer; theta: unknown } | undefined {
  const p = PRETRAINED[resolveName(name, Object.keys(PRETRAINED)) ?? name];
  return p ? { lopt: p.make(lr), theta: p.theta() } : undefined;
}

/** The learned optimizer `name` with its default configuration. */
export function makeLearnedOptimizer(name: string): LearnedOptimizer {
  const C = learned.get(resolveName(name, learnedOptimizerNames()) ?? name);
  if (!C) {
    if (hand.has(name))
      throw new CliError(`unknown learned optimizer '${name}' ('${name}' is hand-designed: use --optimizer ${name})`);
    throw unknownName('learned optimizer', name, learnedOptimizerNames(), 'lopt optimizers');
  }
  return new C();
}
