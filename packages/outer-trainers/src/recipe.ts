import { closestNames } from '@lopt/pytree';
import { type MixtureComponentSpec, mixtureFromSpecs } from '@lopt/tasks';

/** The `format` field of a recipe file. */
export const RECIPE_FORMAT = 'lopt-meta-training-recipe';
/** The recipe format version this library reads. */
export const RECIPE_VERSION = 1;

/** The learned optimizers a recipe can name, with the options each takes. */
export const RECIPE_LOPTS: Readonly<Record<string, readonly string[]>> = {
  AdafacMLPLOpt: [
    'expMult',
    'stepMult',
    'hiddenSize',
    'hiddenLayers',
    'initialMomentumDecays',
    'initialRmsDecays',
    'initialAdafactorDecays',
  ],
  MLPLOpt: ['expMult', 'stepMult', 'hiddenSize', 'hiddenLayers'],
};

/** The gradient estimators a recipe can name. */
export const RECIPE_ESTIMATORS = ['TruncatedPES', 'TruncatedES'] as const;

/** The truncation schedules a recipe can name. */
export const RECIPE_SCHEDULES = ['LogUniformLengthSchedule', 'ConstantTruncationSchedule'] as const;

/**
 * A meta-training recipe (version 1): everything a run needs, as one JSON file.
 *
 * ```json
 * { "format": "lopt-meta-training-recipe", "version": 1, "name": "...", "seed": 0,
 *   "learnedOptimizer": { "name": "AdafacMLPLOpt", "options": { "hiddenSize": 4 } },
 *   "taskDistribution": { "components": [ { "distribution": "ImageMLPDistribution",
 *     "options": { ... }, "weight": 1, "augmentation": [ { "kind": "none" } ] } ] },
 *   "estimator": { "name": "TruncatedPES", "numTasks": 8, "truncLength": 50, "std": 0.01 },
 *   "truncationSchedule": { "name": "LogUniformLengthSchedule", "minLength": 100, "maxLength": 1000 },
 *   "numEstimators": 2, "resampleEvery": 50,
 *   "outerOptimizer": { "name": "Adam", "learningRate": 0.0003, "gradClip": 3 },
 *   "outerSteps": 5000, "checkpointEvery": 25 }
 * ```
 */
export interface Recipe {
  /** Always {@link RECIPE_FORMAT}. */
  format: typeof RECIPE_FORMAT;
  /** Always {@link RECIPE_VERSION}. */
  version: typeof RECIPE_VERSION;
  /** The recipe's name (the shipped theta's versioned name). */
  name: string;
  /** What the recipe is for (free text). */
  description?: string;
  /** Seed of the run: theta's init, the families and every outer step's key derive from it. */
  seed: number;
  /** The learned optimizer: a name of {@link RECIPE_LOPTS} and its constructor options. */
  learnedOptimizer: { name: string; options?: Record<string, unknown> };
  /** The meta-training distribution: a mixture of registered task distributions, each with optional augmentation. */
  taskDistribution: { components: MixtureComponentSpec[] };
  /** The gradient estimator and the inner problems it trains side by side. */
  estimator: {
    /** One of {@link RECIPE_ESTIMATORS}. */
    name: (typeof RECIPE_ESTIMATORS)[number];
    /** Inner problems per estimator (K). */
    numTasks: number;
    /** Inner steps per truncation (one meta-gradient estimate). */
    truncLength: number;
    /** Standard deviation of the theta perturbations (default 0.01). */
    std?: number;
  };
  /** How long each inner problem trains before it is reset. */
  truncationSchedule:
    | { name: 'LogUniformLengthSchedule'; minLength: number; maxLength: number }
    | { name: 'ConstantTruncationSchedule'; length: number };
  /** Estimators averaged per outer step, each on its own sampled family (default 1). */
  numEstimators?: number;
  /** Every this many outer steps each estimator's family is drawn anew (default 0: never). */
  resampleEvery?: number;
  /** The outer optimizer: Adam with a learning rate, optionally with gradient clipping. */
  outerOptimizer: { name: 'Adam'; learningRate: number; gradClip?: number };
  /** Outer steps of the whole run. */
  outerSteps: number;
  /** A checkpoint every this many outer steps (and at the end). */
  checkpointEvery: number;
}

const TOP_KEYS = [
  'format',
  'version',
  'name',
  'description',
  'seed',
  'learnedOptimizer',
  'taskDistribution',
  'estimator',
  'truncationSchedule',
  'numEstimators',
  'resampleEvery',
  'outerOptimizer',
  'outerSteps',
  'checkpointEvery',
] as const;

/** An error in a recipe: the message names the field (a dotted path) and what to do. */
export class RecipeError extends Error {
  /** @param message what is wrong, with the field's path */
  constructor(message: string) {
    super(message);
    this.name = 'RecipeError';
  }
}

function hint(name: string, allowed: readonly string[]): string {
  const [near] = closestNames(name, allowed, { limit: 1 });
  return near !== undefined ? ` (did you mean '${near}'?)` : '';
}

function object(
  v: unknown,
  path: string,
  allowed: readonly string[],
  required: readonly string[],
): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new RecipeError(`${path}: expected an object, got ${JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k))
      throw new RecipeError(`${path}: unknown key '${k}'${hint(k, allowed)}; allowed keys: ${allowed.join(', ')}`);
  }
  for (const k of required) if (o[k] === undefined) throw new RecipeError(`${path}: missing required key '${k}'`);
  return o;
}

function int(v: unknown, path: string, min: number): number {
  if (!Number.isInteger(v) || (v as number) < min)
    throw new RecipeError(`${path}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v as number;
}

function positive(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new RecipeError(`${path}: expected a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new RecipeError(
      `${path}: unknown name ${JSON.stringify(v)}${typeof v === 'string' ? hint(v, allowed) : ''}; one of: ${allowed.join(', ')}`,
    );
  }
  return v as T;
}

/**
 * Reads and checks a recipe (JSON text or an already parsed object). Every problem is a
 * {@link RecipeError} naming the field: unknown keys (with the closest allowed one), a
 * wrong format or version, unknown names of learned optimizers, estimators, schedules or
 * task distributions, bad numbers, a truncation length longer than the shortest unroll,
 * a schedule that does not divide into truncations, bad distribution options or
 * augmentations. The task distribution is built once to check it (no data is loaded).
 */
export function parseRecipe(input: string | unknown): Recipe {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw new RecipeError(`recipe: not valid JSON (${(e as Error).message})`);
    }
  }
  const r = object(raw, 'recipe', TOP_KEYS, [
    'format',
    'version',
    'name',
    'seed',
    'learnedOptimizer',
    'taskDistribution',
    'estimator',
    'truncationSchedule',
    'outerOptimizer',
    'outerSteps',
    'checkpointEvery',
  ]);
  if (r.format !== RECIPE_FORMAT)
    throw new RecipeError(`recipe.format: expected '${RECIPE_FORMAT}', got ${JSON.stringify(r.format)}`);
  if (r.version !== RECIPE_VERSION) {
    throw new RecipeError(
      `recipe.version: this library reads version ${RECIPE_VERSION}, got ${JSON.stringify(r.version)}`,
    );
  }
  if (typeof r.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(r.name)) {
    throw new RecipeError(
      `recipe.name: expected a name of letters, digits, '.', '_' and '-', got ${JSON.stringify(r.name)}`,
    );
  }
  if (r.description !== undefined && typeof r.description !== 'string')
    throw new RecipeError('recipe.description: expected text');
  int(r.seed, 'recipe.seed', 0);

  const lo = object(r.learnedOptimizer, 'recipe.learnedOptimizer', ['name', 'options'], ['name']);
  const loptName = oneOf(lo.name, 'recipe.learnedOptimizer.name', Object.keys(RECIPE_LOPTS));
  if (lo.options !== undefined) object(lo.options, 'recipe.learnedOptimizer.options', RECIPE_LOPTS[loptName]!, []);

  const td = object(r.taskDistribution, 'recipe.taskDistribution', ['components'], ['components']);
  try {
    mixtureFromSpecs(td.components, 'recipe.taskDistribution.components');
  } catch (e) {
    throw new RecipeError((e as Error).message);
  }

  const est = object(
    r.estimator,
    'recipe.estimator',
    ['name', 'numTasks', 'truncLength', 'std'],
    ['name', 'numTasks', 'truncLength'],
  );
  oneOf(est.name, 'recipe.estimator.name', RECIPE_ESTIMATORS);
  int(est.numTasks, 'recipe.estimator.numTasks', 1);
  const L = int(est.truncLength, 'recipe.estimator.truncLength', 1);
  if (est.std !== undefined) positive(est.std, 'recipe.estimator.std');

  const ts = object(
    r.truncationSchedule,
    'recipe.truncationSchedule',
    ['name', 'minLength', 'maxLength', 'length'],
    ['name'],
  );
  const sname = oneOf(ts.name, 'recipe.truncationSchedule.name', RECIPE_SCHEDULES);
  if (sname === 'LogUniformLengthSchedule') {
    object(ts, 'recipe.truncationSchedule', ['name', 'minLength', 'maxLength'], ['minLength', 'maxLength']);
    const min = int(ts.minLength, 'recipe.truncationSchedule.minLength', 1);
    const max = int(ts.maxLength, 'recipe.truncationSchedule.maxLength', 1);
    if (max <= min)
      throw new RecipeError(`recipe.truncationSchedule: maxLength (${max}) must be larger than minLength (${min})`);
    if (L > min)
      throw new RecipeError(
        `recipe.estimator.truncLength (${L}) must not exceed recipe.truncationSchedule.minLength (${min})`,
      );
  } else {
    object(ts, 'recipe.truncationSchedule', ['name', 'length'], ['length']);
    const len = int(ts.length, 'recipe.truncationSchedule.length', 1);
    if (len % L !== 0)
      throw new RecipeError(
        `recipe.truncationSchedule.length (${len}) must be a multiple of recipe.estimator.truncLength (${L})`,
      );
  }
  if (r.numEstimators !== undefined) int(r.numEstimators, 'recipe.numEstimators', 1);
  if (r.resampleEvery !== undefined) int(r.resampleEvery, 'recipe.resampleEvery', 0);

  const oo = object(
    r.outerOptimizer,
    'recipe.outerOptimizer',
    ['name', 'learningRate', 'gradClip'],
    ['name', 'learningRate'],
  );
  oneOf(oo.name, 'recipe.outerOptimizer.name', ['Adam']);
  positive(oo.learningRate, 'recipe.outerOptimizer.learningRate');
  if (oo.gradClip !== undefined) positive(oo.gradClip, 'recipe.outerOptimizer.gradClip');
  int(r.outerSteps, 'recipe.outerSteps', 1);
  int(r.checkpointEvery, 'recipe.checkpointEvery', 1);
  return JSON.parse(JSON.stringify(r)) as Recipe;
}

/**
 * The part of a recipe a checkpoint must agree with to be resumed: everything but
 * `outerSteps`, `checkpointEvery` and `description` (a run may be extended).
 */
export function recipeIdentity(recipe: Recipe): unknown {
  const { outerSteps: _o, checkpointEvery: _c, description: _d, ...rest } = recipe;
  return rest;
}
