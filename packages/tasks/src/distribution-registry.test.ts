import { random } from '@lopt/pytree';
import { describe, expect, test } from 'vitest';
import { AugmentedTaskFamily } from './augmentation/augmented-family.js';
import {
  getTaskDistribution,
  listTaskDistributions,
  mixtureFromSpecs,
  registerTaskDistribution,
} from './distribution-registry.js';
import { ImageMLPDistribution } from './image-mlp-distribution.js';
import { NamedTasksDistribution } from './named-tasks-distribution.js';
import { sampleTaskFamily } from './task-distribution.js';

describe('task distribution registry', () => {
  test('lists the built-in distributions and builds them by name with options', () => {
    expect(listTaskDistributions()).toEqual(
      expect.arrayContaining([
        'ImageConvDistribution',
        'ImageMLPDistribution',
        'MixtureTaskDistribution',
        'NamedTasksDistribution',
      ]),
    );
    const d = getTaskDistribution('ImageMLPDistribution', { imageSize: [8, 9], batchSize: [32, 33] });
    expect(d).toBeInstanceOf(ImageMLPDistribution);
    const cfg = d.sample(random.PRNGKey(0)) as { imageSize: number[]; batchSize: number };
    expect(cfg.imageSize).toEqual([8, 8]);
    expect(cfg.batchSize).toBe(32);
  });

  test('an unknown name or option is an error that names it', () => {
    expect(() => getTaskDistribution('ImageMlpDistribution')).toThrow(
      /Unknown task distribution 'ImageMlpDistribution' \(did you mean 'ImageMLPDistribution'\?\)/,
    );
    expect(() => getTaskDistribution('ImageConvDistribution', { widths: [4, 8] })).toThrow(/unknown option 'widths'/);
    expect(() => registerTaskDistribution('ImageMLPDistribution', () => new ImageMLPDistribution())).toThrow(
      /already registered/,
    );
    expect(() => mixtureFromSpecs([{ distribution: 'ImageMLPDistribution', wieght: 2 }])).toThrow(
      /components\[0\]: unknown option 'wieght' \(did you mean 'weight'\?\)/,
    );
    expect(() =>
      mixtureFromSpecs([{ distribution: 'ImageMLPDistribution', augmentation: [{ kind: 'flip' }] }]),
    ).toThrow(/components\[0\]\.augmentation\[0\]\.kind: unknown augmentation "flip"/);
    expect(() => new NamedTasksDistribution({ tasks: ['NoSuchTask'] })).toThrow(/unknown task 'NoSuchTask'/);
  });

  test('a mixture picks components by weight, deterministically, and augments their families', async () => {
    const mix = mixtureFromSpecs([
      {
        distribution: 'NamedTasksDistribution',
        options: { tasks: ['QuadraticTask'] },
        weight: 3,
        augmentation: [{ kind: 'scaleLoss' }],
      },
      { distribution: 'NamedTasksDistribution', options: { tasks: ['SumQuadraticTask', 'LogQuadraticTask'] } },
    ]);
    expect(mix.sample(random.PRNGKey(9))).toEqual(mix.sample(random.PRNGKey(9)));
    const cfgs = Array.from({ length: 400 }, (_, i) => mix.sample(random.PRNGKey(i)));
    const first = cfgs.filter((c) => c.component === 0).length;
    // Expected 300 of 400; four standard deviations is about 35.
    expect(Math.abs(first - 300)).toBeLessThan(35);
    expect(new Set(cfgs.filter((c) => c.component === 1).map((c) => (c.cfg as { task: string }).task))).toEqual(
      new Set(['SumQuadraticTask', 'LogQuadraticTask']),
    );
    const c0 = cfgs.find((c) => c.component === 0)!;
    const fam = await mix.familyFn(c0);
    expect(fam).toBeInstanceOf(AugmentedTaskFamily);
    expect(fam.name).toBe('Augmented_QuadraticTask');
    const task = fam.sampleTask(random.PRNGKey(1));
    expect(task.name).toBe('ScaleLoss_QuadraticTask');
    const c1 = cfgs.find((c) => c.component === 1)!;
    const fam1 = await sampleTaskFamily(mix, random.PRNGKey(cfgs.indexOf(c1)));
    expect(fam1.name).toBe((c1.cfg as { task: string }).task);
  });
});
