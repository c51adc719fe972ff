import { type PRNGKey, random } from '@lopt/pytree';
import { type AugmentationSpec, AugmentedTaskFamily, parseAugmentationSpec } from './augmentation/augmented-family.js';
import type { ImageTaskOptions } from './image-data.js';
import type { TaskFamily } from './task.js';
import type { TaskDistribution } from './task-distribution.js';

/** One component of a {@link MixtureTaskDistribution}. */
export interface MixtureComponent {
  /** The component's distribution. */
  distribution: TaskDistribution;
  /** Relative probability of drawing this component (default 1). */
  weight?: number;
  /** Augmentations drawn per task of this component's families (none when omitted). */
  augmentation?: readonly AugmentationSpec[];
}

/** A family config of a {@link MixtureTaskDistribution}: which component, and its config. */
export interface MixtureFamilyCfg {
  /** The component's index. */
  component: number;
  /** The component distribution's name. */
  distribution: string;
  /** The component's family config. */
  cfg: unknown;
}

/**
 * Several task distributions as one: `sample` picks a component by weight, then draws its
 * config; `familyFn` builds that component's family and, when the component has an
 * augmentation list, wraps it in an `AugmentedTaskFamily`. This is how a recipe's
 * "families plus augmentation" is expressed, and how new kinds of tasks (language models,
 * named tasks) join a meta-training distribution.
 */
export class MixtureTaskDistribution implements TaskDistribution<MixtureFamilyCfg> {
  /** The components. */
  readonly components: readonly MixtureComponent[];
  private readonly cumulative: number[];

  /** A mixture of `components` (at least one; weights positive). */
  constructor(
    components: readonly MixtureComponent[],
    readonly mixtureName = 'MixtureTaskDistribution',
  ) {
    if (components.length === 0) throw new Error('MixtureTaskDistribution: give at least one component');
    for (const [i, c] of components.entries()) {
      const w = c.weight ?? 1;
      if (!(typeof w === 'number' && Number.isFinite(w) && w > 0)) {
        throw new Error(`MixtureTaskDistribution: components[${i}].weight must be a positive number, got ${c.weight}`);
      }
      // Checked now, not when the first family is built.
      c.augmentation?.forEach((a, j) => parseAugmentationSpec(a, `components[${i}].augmentation[${j}]`));
    }
    this.components = components.slice();
    const total = components.reduce((s, c) => s + (c.weight ?? 1), 0);
    let acc = 0;
    this.cumulative = components.map((c) => (acc += (c.weight ?? 1) / total));
  }

  /** The mixture's name. */
  get name(): string {
    return this.mixtureName;
  }

  /** A component by weight (first key), then its config (second key). */
  sample(key: PRNGKey): MixtureFamilyCfg {
    const [k1, k2] = random.split(key);
    const u = random.uniform(k1!, []);
    const x = u.dataSync()[0]!;
    u.dispose();
    let component = this.cumulative.findIndex((c) => x < c);
    if (component < 0) component = this.components.length - 1;
    const c = this.components[component]!;
    return { component, distribution: c.distribution.name, cfg: c.distribution.sample(k2!) };
  }

  /** The component's family, augmented when the component says so. */
  async familyFn(cfg: MixtureFamilyCfg, opts: ImageTaskOptions = {}): Promise<TaskFamily> {
    const c = this.components[cfg.component];
    if (!c || c.distribution.name !== cfg.distribution) {
      throw new Error(
        `${this.name}: config for component ${cfg.component} ('${cfg.distribution}') does not match this mixture`,
      );
    }
    const family = await c.distribution.familyFn(cfg.cfg, opts);
    return c.augmentation ? new AugmentedTaskFamily(family, c.augmentation) : family;
  }
}
