import { AdafacMLPLOpt, type LearnedOptimizer, MLPLOpt } from '@lopt/learned';
import { Adam, GradientClipOptimizer, type Optimizer } from '@lopt/optimizers';
import { type PRNGKey, random } from '@lopt/pytree';
import { type ImageTaskOptions, type MixtureTaskDistribution, mixtureFromSpecs, type TaskFamily } from '@lopt/tasks';
import { configFingerprint, deserializeCheckpoint, serializeCheckpoint } from './checkpoint.js';
import type { GradientEstimator, Metrics } from './gradient-estimator.js';
import { SingleMachineGradientLearner, type SingleMachineState } from './gradient-learner.js';
import { VectorizedLOptTruncatedStep } from './lopt-truncated-step.js';
import type { CheckpointStore } from './meta-train.js';
import { metricsLine } from './metrics.js';
import { parseRecipe, type Recipe, recipeIdentity } from './recipe.js';
import { checkPositiveInt, disposeExcept } from './tree-utils.js';
import { TruncatedES } from './truncated-es.js';
import { TruncatedPES } from './truncated-pes.js';
import {
  ConstantTruncationSchedule,
  LogUniformLengthSchedule,
  type TruncationSchedule,
} from './truncation-schedule.js';

/** Options of {@link RecipeTrainer.create}. */
export interface RecipeTrainerOptions {
  /** Where image families load their data from (`cacheRoot`, `dataDir`, `download`, ...); the shuffle key is the recipe's. */
  data?: Omit<ImageTaskOptions, 'key' | 'datasets' | 'batchSize'>;
  /** Checkpoint storage; with a stored checkpoint, the run resumes from it. */
  store?: CheckpointStore;
  /** Receives one JSON line per outer step. */
  onMetricsLine?: (line: string) => void;
  /** Called after every outer step. */
  onStep?: (step: number, loss: number, metrics: Metrics) => void;
  /** Called when an estimator gets a newly drawn family. */
  onFamily?: (estimator: number, family: string, cfg: unknown) => void;
}

/** The learned optimizer a recipe names, built with its options. */
export function recipeLearnedOptimizer(recipe: Recipe): LearnedOptimizer<unknown> {
  const o = (recipe.learnedOptimizer.options ?? {}) as Record<string, never>;
  switch (recipe.learnedOptimizer.name) {
    case 'AdafacMLPLOpt':
      return new AdafacMLPLOpt(o) as unknown as LearnedOptimizer<unknown>;
    case 'MLPLOpt':
      return new MLPLOpt(o) as unknown as LearnedOptimizer<unknown>;
    default:
      throw new Error(`recipe: unknown learned optimizer '${recipe.learnedOptimizer.name}'`);
  }
}

function schedule(recipe: Recipe): [TruncationSchedule, number] {
  const s = recipe.truncationSchedule;
  return s.name === 'LogUniformLengthSchedule'
    ? [new LogUniformLengthSchedule(s.minLength, s.maxLength), s.maxLength]
    : [new ConstantTruncationSchedule(s.length), s.length];
}

type Iter = { state?(): unknown; restore?(s: unknown): void };
const SPLITS = ['train', 'innerValid', 'outerValid', 'test'];

function dataPositions(family: TaskFamily): Record<string, unknown> {
  const ds = family.datasets as unknown as Record<string, Iter> | undefined;
  const out: Record<string, unknown> = {};
  if (!ds) return out;
  for (const s of SPLITS) if (ds[s]?.state) out[s] = ds[s]!.state!();
  return out;
}

function restorePositions(family: TaskFamily, pos: Record<string, unknown>): void {
  const ds = family.datasets as unknown as Record<string, Iter> | undefined;
  for (const [s, p] of Object.entries(pos)) {
    const it = ds?.[s];
    if (!it?.restore) throw new Error(`checkpoint: the family ${family.name} has no restorable '${s}' data stream`);
    it.restore(p);
  }
}

/**
 * Runs a meta-training {@link Recipe}: the learned optimizer, `numEstimators` gradient
 * estimators (PES or truncated ES) each on a family drawn from the recipe's task
 * distribution, the outer optimizer, and a checkpointed, resumable loop.
 *
 * Every random choice derives from the recipe's seed: estimator `j`'s family for period
 * `e` is drawn with `foldIn(foldIn(foldIn(PRNGKey(seed), 1), j), e)` (its data shuffles
 * with a key folded from it), where estimator `j` changes period every `resampleEvery`
 * outer steps, offset by `j * resampleEvery / numEstimators` so the estimators do not
 * all restart together (the reference resamples at random instead); outer step `i`
 * uses `foldIn(PRNGKey(seed), i)`. A checkpoint holds the whole state and the data
 * streams' positions, so a resumed run reaches the same theta as an uninterrupted one.
 */
export class RecipeTrainer {
  /** The checked recipe. */
  readonly recipe: Recipe;
  /** The learned optimizer being meta-trained. */
  readonly lopt: LearnedOptimizer<unknown>;
  /** The learner (its estimators change as families are redrawn). */
  readonly learner: SingleMachineGradientLearner<unknown>;
  /** The task distribution. */
  readonly distribution: MixtureTaskDistribution;
  /** The current family of each estimator. */
  readonly families: TaskFamily[];
  /** The configs of the current families (plain data). */
  readonly familyCfgs: unknown[];
  /** The period each estimator's family belongs to. */
  private readonly periods: number[];
  private state: SingleMachineState<unknown>;
  private stepIndex: number;
  private readonly resumed: number;

  private constructor(
    recipe: Recipe,
    lopt: LearnedOptimizer<unknown>,
    learner: SingleMachineGradientLearner<unknown>,
    distribution: MixtureTaskDistribution,
    families: TaskFamily[],
    cfgs: unknown[],
    periods: number[],
    state: SingleMachineState<unknown>,
    step: number,
    private readonly opts: RecipeTrainerOptions,
  ) {
    this.recipe = recipe;
    this.lopt = lopt;
    this.learner = learner;
    this.distribution = distribution;
    this.families = families;
    this.familyCfgs = cfgs;
    this.periods = periods;
    this.state = state;
    this.stepIndex = step;
    this.resumed = step;
  }

  /** Builds everything the recipe names and restores the stored checkpoint, when there is one. */
  static async create(recipeInput: Recipe | string, opts: RecipeTrainerOptions = {}): Promise<RecipeTrainer> {
    const recipe = parseRecipe(recipeInput);
    const lopt = recipeLearnedOptimizer(recipe);
    const distribution = mixtureFromSpecs(recipe.taskDistribution.components, 'recipe.taskDistribution.components');
    const n = recipe.numEstimators ?? 1;
    const runKey = random.PRNGKey(recipe.seed);
    const fingerprint = configFingerprint(recipeIdentity(recipe));
    const text = opts.store?.load();
    let step = 0;
    let ckptExtra: { dataState?: Record<string, unknown>[] } | undefined;
    let header: { outerIteration: number } | undefined;
    if (text !== undefined) {
      try {
        header = JSON.parse(text) as { outerIteration: number };
      } catch (e) {
        throw new Error(`checkpoint: not valid JSON (${(e as Error).message}); the file is corrupt or truncated`);
      }
      step = header.outerIteration;
    }
    // The families the checkpointed estimator states belong to: those of the last step run.
    const periods = Array.from({ length: n }, (_, j) => periodOf(recipe, j, Math.max(0, step - 1)));
    const families: TaskFamily[] = [];
    const cfgs: unknown[] = [];
    for (let j = 0; j < n; j++) {
      const [fam, cfg] = await drawFamily(recipe, distribution, runKey, j, periods[j]!, opts.data);
      families.push(fam);
      cfgs.push(cfg);
      opts.onFamily?.(j, fam.name, cfg);
    }
    const estimators = families.map((f) => buildEstimator(recipe, f, lopt));
    let thetaOpt: Optimizer = new Adam(recipe.outerOptimizer.learningRate);
    if (recipe.outerOptimizer.gradClip !== undefined)
      thetaOpt = new GradientClipOptimizer(thetaOpt, recipe.outerOptimizer.gradClip);
    const learner = new SingleMachineGradientLearner(lopt, estimators, thetaOpt);
    let state: SingleMachineState<unknown>;
    if (text !== undefined) {
      const fresh = learner.gradientLearner.init(random.split(runKey)[0]!);
      try {
        const ckpt = deserializeCheckpoint<unknown>(text, {
          fingerprint,
          thetaTemplate: learner.gradientLearner.getMetaParams(fresh),
        });
        if (ckpt.key[0] !== runKey[0] || ckpt.key[1] !== runKey[1]) {
          disposeExcept(ckpt.state);
          throw new Error('checkpoint: it was written with another seed');
        }
        state = ckpt.state;
        ckptExtra = ckpt.extra as typeof ckptExtra;
      } finally {
        disposeExcept(fresh);
      }
      const saved = ckptExtra?.dataState;
      if (!saved || saved.length !== n) throw new Error(`checkpoint: it holds no data positions for ${n} estimators`);
      families.forEach((f, j) => restorePositions(f, saved[j]!));
    } else {
      state = learner.init(random.split(runKey)[0]!);
    }
    return new RecipeTrainer(recipe, lopt, learner, distribution, families, cfgs, periods, state, step, opts);
  }

  /** The outer step the next `run` starts at. */
  get step(): number {
    return this.stepIndex;
  }

  /** The outer step this trainer resumed from (0 for a fresh run). */
  get resumedFrom(): number {
    return this.resumed;
  }

  /** The current theta (owned by the trainer: clone it to keep it past `dispose`). */
  theta(): unknown {
    return this.learner.getMetaParams(this.state);
  }

  /**
   * Runs outer steps until `untilStep` (default the recipe's `outerSteps`), redrawing
   * families when their period ends, checkpointing every `checkpointEvery` steps and at
   * the end. `shouldStop` is asked before every step (a Ctrl-C handler, say): when it
   * says yes, a checkpoint is written and the run returns early. Returns the
   * meta-losses of the steps run.
   */
  async run(untilStep = this.recipe.outerSteps, opts: { shouldStop?: () => boolean } = {}): Promise<number[]> {
    checkPositiveInt(untilStep, 'RecipeTrainer.run: untilStep');
    const runKey = random.PRNGKey(this.recipe.seed);
    const losses: number[] = [];
    while (this.stepIndex < untilStep) {
      if (opts.shouldStop?.()) {
        this.save();
        break;
      }
      await this.maybeResample(runKey);
      const out = this.learner.update(this.state, random.foldIn(runKey, this.stepIndex));
      this.state = out.state;
      losses.push(out.loss);
      this.opts.onMetricsLine?.(
        metricsLine({ step: this.stepIndex, loss: out.loss, metrics: out.metrics, time: new Date().toISOString() }),
      );
      this.opts.onStep?.(this.stepIndex, out.loss, out.metrics);
      this.stepIndex += 1;
      if (this.stepIndex % this.recipe.checkpointEvery === 0 || this.stepIndex === untilStep) this.save();
      await new Promise<void>((r) => setTimeout(r, 0));
    }
    return losses;
  }

  /** Writes a checkpoint to the store now (no-op without a store). */
  save(): void {
    this.opts.store?.save(
      serializeCheckpoint({
        state: this.state,
        outerIteration: this.stepIndex,
        key: random.PRNGKey(this.recipe.seed),
        fingerprint: configFingerprint(recipeIdentity(this.recipe)),
        extra: { recipe: this.recipe.name, families: this.familyCfgs, dataState: this.families.map(dataPositions) },
      }),
    );
  }

  /** Frees every tensor the trainer holds. */
  dispose(): void {
    disposeExcept(this.state);
  }

  private async maybeResample(runKey: PRNGKey): Promise<void> {
    for (let j = 0; j < this.families.length; j++) {
      const p = periodOf(this.recipe, j, this.stepIndex);
      if (p === this.periods[j]) continue;
      const [fam, cfg] = await drawFamily(this.recipe, this.distribution, runKey, j, p, this.opts.data);
      const est = buildEstimator(this.recipe, fam, this.lopt);
      const ww = this.learner.gradientLearner.getStateForWorker(this.state.gradientLearnerState);
      const fresh = est.initWorkerState(ww, random.foldIn(familyKey(runKey, j, p), 2));
      disposeExcept(this.state.gradientEstimatorStates[j], this.state.gradientLearnerState, fresh);
      this.state.gradientEstimatorStates[j] = fresh;
      this.learner.gradientEstimators[j] = est;
      this.families[j] = fam;
      this.familyCfgs[j] = cfg;
      this.periods[j] = p;
      this.opts.onFamily?.(j, fam.name, cfg);
    }
  }
}

function periodOf(recipe: Recipe, j: number, step: number): number {
  const every = recipe.resampleEvery ?? 0;
  if (every <= 0) return 0;
  const n = recipe.numEstimators ?? 1;
  return Math.floor((step + Math.floor((j * every) / n)) / every);
}

function familyKey(runKey: PRNGKey, j: number, period: number): PRNGKey {
  return random.foldIn(random.foldIn(random.foldIn(runKey, 1), j), period);
}

async function drawFamily(
  recipe: Recipe,
  distribution: MixtureTaskDistribution,
  runKey: PRNGKey,
  j: number,
  period: number,
  data: RecipeTrainerOptions['data'],
): Promise<[TaskFamily, unknown]> {
  const k = familyKey(runKey, j, period);
  const cfg = distribution.sample(random.foldIn(k, 0));
  try {
    return [await distribution.familyFn(cfg, { ...data, key: random.foldIn(k, 1) }), cfg];
  } catch (e) {
    throw new Error(
      `recipe ${recipe.name}: could not build the family ${JSON.stringify(cfg)}: ${(e as Error).message}`,
    );
  }
}

function buildEstimator(
  recipe: Recipe,
  family: TaskFamily,
  lopt: LearnedOptimizer<unknown>,
): GradientEstimator<unknown> {
  const [sched, maxLength] = schedule(recipe);
  const step = new VectorizedLOptTruncatedStep(family, lopt, sched, recipe.estimator.numTasks, {
    randomInitialIterationOffset: maxLength,
  });
  const L = recipe.estimator.truncLength;
  const std = recipe.estimator.std ?? 0.01;
  return recipe.estimator.name === 'TruncatedPES'
    ? (new TruncatedPES(step, { truncLength: L, stepsPerJit: L, std }) as unknown as GradientEstimator<unknown>)
    : (new TruncatedES(step, { unrollLength: L, stepsPerJit: L, std }) as unknown as GradientEstimator<unknown>);
}
