import type { AugmentationSpec } from './augmentation/augmented-family.js';
import { ImageConvDistribution } from './image-conv-distribution.js';
import { ImageMLPDistribution } from './image-mlp-distribution.js';
import { MixtureTaskDistribution } from './mixture-distribution.js';
import { NamedTasksDistribution } from './named-tasks-distribution.js';
import { assertKnownKeys, closestName } from './options-check.js';
import type { TaskDistribution } from './task-distribution.js';

/** Builds a task distribution from plain options (as a recipe file holds them); checks them. */
export type TaskDistributionFactory = (options?: Record<string, unknown>) => TaskDistribution;

const registry = new Map<string, { factory: TaskDistributionFactory; description: string }>();

/**
 * Adds a task distribution under `name`, for {@link getTaskDistribution} and recipe files.
 * A name already taken throws unless `overwrite`.
 */
export function registerTaskDistribution(
  name: string,
  factory: TaskDistributionFactory,
  { description = '', overwrite = false }: { description?: string; overwrite?: boolean } = {},
): void {
  if (registry.has(name) && !overwrite) throw new Error(`registerTaskDistribution: '${name}' is already registered`);
  registry.set(name, { factory, description });
}

/** The names of every registered task distribution, sorted. */
export function listTaskDistributions(): string[] {
  return [...registry.keys()].sort();
}

/** The one-line description a distribution was registered with. */
export function describeTaskDistribution(name: string): string {
  return registry.get(name)?.description ?? '';
}

/**
 * The distribution registered as `name`, built with `options`. An unknown name throws an
 * error with the closest name and the list; bad options throw the factory's error.
 */
export function getTaskDistribution(name: string, options: Record<string, unknown> = {}): TaskDistribution {
  const entry = registry.get(name);
  if (!entry) {
    const near = closestName(name, listTaskDistributions());
    throw new Error(
      `Unknown task distribution '${name}'${near ? ` (did you mean '${near}'?)` : ''}; registered: ${listTaskDistributions().join(', ')}`,
    );
  }
  return entry.factory(options);
}

/** One component of a mixture, as plain data: a registered distribution by name. */
export interface MixtureComponentSpec {
  /** A registered distribution's name. */
  distribution: string;
  /** Its options. */
  options?: Record<string, unknown>;
  /** Relative probability (default 1). */
  weight?: number;
  /** Augmentations drawn per task (see `AugmentationSpec`). */
  augmentation?: AugmentationSpec[];
}

/** A mixture from plain component specs (checked: unknown keys, names, options, augmentations). */
export function mixtureFromSpecs(components: unknown, where = 'components'): MixtureTaskDistribution {
  if (!Array.isArray(components) || components.length === 0) {
    throw new Error(`${where}: expected a non-empty list of { distribution, options, weight, augmentation }`);
  }
  return new MixtureTaskDistribution(
    components.map((c, i) => {
      const at = `${where}[${i}]`;
      assertKnownKeys(c, ['distribution', 'options', 'weight', 'augmentation'], at);
      if (typeof c.distribution !== 'string')
        throw new Error(`${at}.distribution: expected a registered distribution name`);
      if (c.distribution === 'MixtureTaskDistribution') throw new Error(`${at}.distribution: mixtures do not nest`);
      let distribution: TaskDistribution;
      try {
        distribution = getTaskDistribution(c.distribution, (c.options ?? {}) as Record<string, unknown>);
      } catch (e) {
        throw new Error(`${at}: ${(e as Error).message}`);
      }
      if (c.augmentation !== undefined && !Array.isArray(c.augmentation))
        throw new Error(`${at}.augmentation: expected a list`);
      return {
        distribution,
        weight: c.weight as number | undefined,
        augmentation: c.augmentation as AugmentationSpec[] | undefined,
      };
    }),
  );
}

registerTaskDistribution('ImageMLPDistribution', (o) => new ImageMLPDistribution(o), {
  description: 'image MLP families: sampled width, depth, image size, batch size, dataset (sample_image_mlp)',
});
registerTaskDistribution('ImageConvDistribution', (o) => new ImageConvDistribution(o), {
  description: 'conv-net families: sampled width, depth, strides, image size, batch size, dataset (sample_image_conv)',
});
registerTaskDistribution('NamedTasksDistribution', (o) => new NamedTasksDistribution(o as { tasks: string[] }), {
  description: 'one of a list of registered tasks, as a one-task family',
});
registerTaskDistribution(
  'MixtureTaskDistribution',
  (o = {}) => {
    assertKnownKeys(o, ['components'], 'MixtureTaskDistribution');
    return mixtureFromSpecs(o.components, 'MixtureTaskDistribution.components');
  },
  { description: 'weighted mixture of registered distributions, each with optional per-task augmentation' },
);
