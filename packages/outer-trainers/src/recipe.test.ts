import { readFileSync } from 'node:fs';
import { AdafacMLPLOpt } from '@lopt/learned';
import { describe, expect, test } from 'vitest';
import { parseRecipe, RecipeError, recipeIdentity } from './recipe.js';
import { TINY_RECIPE as TINY } from './test-helpers.js';

const SHIPPED = new URL('../../../recipes/adafac-small-fc-v1.json', import.meta.url);

const withField = (path: string[], value: unknown): unknown => {
  const r = JSON.parse(JSON.stringify(TINY)) as Record<string, unknown>;
  let o = r;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string, unknown>;
  if (value === undefined) delete o[path.at(-1)!];
  else o[path.at(-1)!] = value;
  return r;
};

describe('parseRecipe', () => {
  test("the repository's adafac-small-fc-v1 recipe is valid and names the small_fc_lopt architecture", () => {
    const r = parseRecipe(readFileSync(SHIPPED, 'utf8'));
    expect(r.name).toBe('adafac-small-fc-v1');
    expect(r.learnedOptimizer).toEqual({ name: 'AdafacMLPLOpt', options: { hiddenSize: 4, hiddenLayers: 2 } });
    expect(r.estimator.name).toBe('TruncatedPES');
    expect(new AdafacMLPLOpt(r.learnedOptimizer.options).hiddenSize).toBe(4);
    expect(r.taskDistribution.components.map((c) => c.distribution)).toEqual([
      'ImageMLPDistribution',
      'ImageConvDistribution',
    ]);
  });

  test('accepts text or objects, and the identity leaves out the run length', () => {
    expect(parseRecipe(JSON.stringify(TINY))).toEqual(TINY);
    const id = recipeIdentity({ ...TINY, outerSteps: 99, checkpointEvery: 7 });
    expect(id).toEqual(recipeIdentity(TINY));
    expect(id).not.toHaveProperty('outerSteps');
  });

  test.each([
    [['estimatr'], { name: 'TruncatedPES' }, /recipe: unknown key 'estimatr' \(did you mean 'estimator'\?\)/],
    [
      ['estimator', 'trunc_length'],
      5,
      /recipe\.estimator: unknown key 'trunc_length' \(did you mean 'truncLength'\?\)/,
    ],
    [
      ['learnedOptimizer', 'name'],
      'AdafacMlpLopt',
      /recipe\.learnedOptimizer\.name: unknown name "AdafacMlpLopt" \(did you mean 'AdafacMLPLOpt'\?\)/,
    ],
    [['learnedOptimizer', 'options'], { hidden: 4 }, /recipe\.learnedOptimizer\.options: unknown key 'hidden'/],
    [
      ['estimator', 'name'],
      'FullES',
      /recipe\.estimator\.name: unknown name "FullES"; one of: TruncatedPES, TruncatedES/,
    ],
    [['format'], 'gin', /recipe\.format: expected 'lopt-meta-training-recipe'/],
    [['version'], 2, /recipe\.version: this library reads version 1, got 2/],
    [['seed'], undefined, /recipe: missing required key 'seed'/],
    [
      ['outerOptimizer', 'learningRate'],
      -1,
      /recipe\.outerOptimizer\.learningRate: expected a positive number, got -1/,
    ],
    [['truncationSchedule', 'length'], 5, /length \(5\) must be a multiple of recipe\.estimator\.truncLength \(2\)/],
    [
      ['taskDistribution', 'components'],
      [{ distribution: 'ImageMLPDistribution', options: { imageSize: [4] } }],
      /recipe\.taskDistribution\.components\[0\]: ImageMLPDistribution\.imageSize: expected \[min, max\]/,
    ],
    [
      ['taskDistribution', 'components'],
      [{ distribution: 'ImageMLPDistribution', augmentation: [{ kind: 'scaleLoss', range: [1, 2], levle: 'x' }] }],
      /augmentation\[0\]: unknown option 'levle' \(did you mean 'level'\?\)/,
    ],
  ])('rejects %j = %j with a message naming the field', (path, value, message) => {
    expect(() => parseRecipe(withField(path as string[], value))).toThrow(message);
    expect(() => parseRecipe(withField(path as string[], value))).toThrow(RecipeError);
  });

  test('bad JSON is an error saying so', () => {
    expect(() => parseRecipe('{"format": ')).toThrow(/recipe: not valid JSON/);
  });
});
