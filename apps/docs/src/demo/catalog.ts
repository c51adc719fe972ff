/**
 * What the live demo offers, as data the page can show without loading lopt: each entry
 * is an option of the Optimizer list. Its training code is the entry of the same name in
 * `TRAINERS` (training.ts), which TypeScript requires for every name here.
 */

/** How the page shows one optimizer. */
export interface DemoOptimizerInfo {
  /** The option's text. */
  label: string;
  /** True when the run meta-trains (the loss shown is a meta-loss). */
  meta: boolean;
  /** The second chart: its title, the name of its row in the numbers table, log scale or not. */
  secondary: { title: string; row: string; logY: boolean };
}

/** Learned optimizers meta-trained by PES report an evaluation every this many iterations. */
export const EVAL_EVERY = 10;
/** Inner steps of that evaluation. */
export const EVAL_STEPS = 20;

const evaluation = {
  title: `Evaluation loss (${EVAL_STEPS} steps from a fixed start)`,
  row: 'evaluation loss',
  logY: false,
};

/** The optimizers, in the order the page lists them. */
export const DEMO_OPTIMIZERS = {
  learnableAdam: {
    label: 'LearnableAdam (Part 1)',
    meta: true,
    secondary: { title: 'Learned learning rate exp(theta.logLr)', row: 'learned learning rate', logY: true },
  },
  mlpLOptPes: { label: 'MLPLOpt with PES (Part 5)', meta: true, secondary: evaluation },
  adafacMlpLOptPes: { label: 'AdafacMLPLOpt with PES', meta: true, secondary: evaluation },
  adam: {
    label: 'Adam, lr 0.01 (no meta)',
    meta: false,
    secondary: { title: 'Learning rate', row: 'learning rate', logY: true },
  },
  sgd: { label: 'SGD (no meta)', meta: false, secondary: { title: 'Learning rate', row: 'learning rate', logY: true } },
} satisfies Record<string, DemoOptimizerInfo>;

/** The optimizers a visitor can pick. */
export type DemoOptimizerName = keyof typeof DEMO_OPTIMIZERS;

/** The tasks a visitor can pick, in the order the page lists them. */
export const DEMO_TASKS = {
  fashionMnist8: { label: 'Fashion-MNIST 8x8, MLP' },
  quadraticFamily: { label: 'Quadratics, 10-d' },
} satisfies Record<string, { label: string }>;

/** The tasks a visitor can pick. */
export type DemoTaskName = keyof typeof DEMO_TASKS;
