// Bundles a meta-trained AdafacMLPLOpt theta into @lopt/learned as a TypeScript module, so
// the package ships it with no file system and no fetch, in Node and in browsers alike.
//
//   node scripts/bundle-lopt-theta.mjs <checkpoint.json | theta.json> [--recipe <recipe.json>]
//        [--metrics <metrics.jsonl>] [--step <n>]
//
// The input is a RecipeTrainer checkpoint (`lopt-outer-trainers-checkpoint`, as
// `lopt meta-train --recipe` writes it) or a theta file (`lopt-theta`, as saveTheta
// writes it). The recipe defaults to recipes/adafac-small-fc-v1.json at the repository's
// root; the metrics default to `metrics.jsonl` beside the checkpoint. Writes
//   src/<recipe-name>-weights.ts            the numbers, the provenance and their SHA-256
//   pretrained/<recipe-name>.provenance.json the same provenance, for people and tools
// Both are written atomically (a temporary file renamed over the old one). The recipe is
// read with @lopt/outer-trainers' parser and fingerprint, from its build (dist/).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const repo = join(pkg, '..', '..');

function fail(msg) {
  console.error(`bundle-lopt-theta: ${msg}`);
  process.exit(1);
}

function parseArgs(argv) {
  const out = { input: undefined, recipe: join(repo, 'recipes', 'adafac-small-fc-v1.json') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    if (a === '--recipe') out.recipe = value();
    else if (a === '--metrics') out.metrics = value();
    else if (a === '--step') out.step = Number(value());
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: node scripts/bundle-lopt-theta.mjs <checkpoint.json | theta.json> [--recipe r.json] [--metrics m.jsonl] [--step n]',
      );
      process.exit(0);
    } else if (a.startsWith('--')) fail(`unknown option ${a} (see --help)`);
    else if (out.input === undefined) out.input = a;
    else fail(`one input file only, got ${out.input} and ${a}`);
  }
  if (out.input === undefined) fail('give the checkpoint (or theta file) to bundle; see --help');
  if (out.step !== undefined && !(Number.isInteger(out.step) && out.step >= 0))
    fail('--step must be a non-negative integer');
  return out;
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// The recipe's parser and the configuration fingerprint are @lopt/outer-trainers' own (the
// ones RecipeTrainer stores in its checkpoints), read from its build: @lopt/learned sits
// below @lopt/outer-trainers and cannot depend on it.
async function outerTrainers() {
  const dist = join(repo, 'packages', 'outer-trainers', 'dist', 'index.js');
  if (!existsSync(dist))
    fail(
      `needs @lopt/outer-trainers built (${relative(repo, dist)} is missing): run \`npx -y pnpm@10.34.8 turbo run build --filter @lopt/outer-trainers\` first`,
    );
  return import(pathToFileURL(dist).href);
}

function float32s(base64, shape, where) {
  const bytes = Buffer.from(base64, 'base64');
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== size * 4) fail(`${where}: ${bytes.length} bytes, expected ${size * 4} for [${shape}]`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = Array.from({ length: size }, (_, i) => view.getFloat32(i * 4, true));
  if (!values.every(Number.isFinite)) fail(`${where}: holds non-finite values (a diverged run?)`);
  return values;
}

// Leaves of an encoded theta tree (@lopt/outer-trainers' encodeTree), paths as the theta
// file format writes them (`.nn[0].w`), object keys sorted.
function encodedLeaves(tree, path, out) {
  if (Array.isArray(tree)) tree.forEach((x, i) => encodedLeaves(x, `${path}[${i}]`, out));
  else if (tree !== null && typeof tree === 'object' && '$tensor' in tree) {
    const { dtype, shape, data } = tree.$tensor;
    if (dtype !== 'float32') fail(`theta leaf ${path} is ${dtype}, expected float32`);
    out.push({ path, shape, values: float32s(data, shape, `theta leaf ${path}`) });
  } else if (tree !== null && typeof tree === 'object') {
    for (const k of Object.keys(tree).sort()) encodedLeaves(tree[k], `${path}.${k}`, out);
  } else fail(`theta: unexpected value at ${path || '<root>'}`);
  return out;
}

// The leaves AdafacMLPLOpt's theta has for the recipe's options, in flattening order.
function expectedShapes(options) {
  const hiddenSize = options.hiddenSize ?? 4;
  const hiddenLayers = options.hiddenLayers ?? 2;
  const m = (options.initialMomentumDecays ?? [0.9, 0.99, 0.999]).length;
  const r = (options.initialRmsDecays ?? [0.999]).length;
  const f = (options.initialAdafactorDecays ?? [0.9, 0.99, 0.999]).length;
  const shapes = { '.adafactorDecays': [f], '.momentumDecays': [m], '.rmsDecays': [r] };
  return { shapes, hiddenSize, hiddenLayers };
}

const args = parseArgs(process.argv.slice(2));
const inputBytes = readFileSync(args.input);
const recipeBytes = readFileSync(args.recipe);
const { configFingerprint, parseRecipe, recipeIdentity } = await outerTrainers();
let recipe;
try {
  recipe = parseRecipe(recipeBytes.toString('utf8'));
} catch (e) {
  fail(`${args.recipe} is not a valid meta-training recipe: ${e.message}`);
}
const recipeFingerprint = (r) => configFingerprint(recipeIdentity(r));
if (recipe.learnedOptimizer?.name !== 'AdafacMLPLOpt')
  fail(`${args.recipe} meta-trains ${recipe.learnedOptimizer?.name}; this script bundles AdafacMLPLOpt thetas`);
const doc = JSON.parse(inputBytes.toString('utf8'));

let leaves;
let outerStep = args.step ?? null;
let fingerprint = null;
if (doc.format === 'lopt-outer-trainers-checkpoint') {
  fingerprint = recipeFingerprint(recipe);
  if (doc.fingerprint !== fingerprint) {
    fail(
      `${args.input} was written by another configuration than ${args.recipe} (fingerprint ${doc.fingerprint}, the recipe's is ${fingerprint})`,
    );
  }
  if (doc.extra?.recipe !== undefined && doc.extra.recipe !== recipe.name)
    fail(`${args.input} belongs to recipe '${doc.extra.recipe}', not '${recipe.name}'`);
  const params = doc.state?.gradientLearnerState?.thetaOptState?.params;
  if (!params) fail(`${args.input} holds no theta (state.gradientLearnerState.thetaOptState.params)`);
  leaves = encodedLeaves(params, '', []);
  if (args.step !== undefined && args.step !== doc.outerIteration)
    fail(`--step ${args.step} but the checkpoint is at outer step ${doc.outerIteration}`);
  outerStep = doc.outerIteration;
} else if (doc.format === 'lopt-theta') {
  if (doc.learnedOptimizer !== 'AdafacMLPLOpt')
    fail(`${args.input} holds a theta of ${doc.learnedOptimizer}, not AdafacMLPLOpt`);
  leaves = doc.leaves.map((l) => ({ path: l.path, shape: l.shape, values: float32s(l.data, l.shape, l.path) }));
} else fail(`${args.input} is neither a meta-training checkpoint nor a theta file (format: ${doc.format})`);

// Structure: the three decay offsets and the MLP numInputs -> hidden x layers -> 2.
const { shapes, hiddenSize, hiddenLayers } = expectedShapes(recipe.learnedOptimizer.options ?? {});
const byPath = new Map(leaves.map((l) => [l.path, l]));
for (const [p, s] of Object.entries(shapes)) {
  const l = byPath.get(p);
  if (!l || l.shape.join() !== s.join())
    fail(`theta leaf ${p}: expected shape [${s}], got ${l ? `[${l.shape}]` : 'none'}`);
}
const nn = leaves.filter((l) => l.path.startsWith('.nn['));
if (nn.length !== 2 * (hiddenLayers + 1))
  fail(`theta: ${nn.length / 2} MLP layers, the recipe's options give ${hiddenLayers + 1}`);
for (let i = 0; i <= hiddenLayers; i++) {
  const w = byPath.get(`.nn[${i}].w`);
  const b = byPath.get(`.nn[${i}].b`);
  const out = i === hiddenLayers ? 2 : hiddenSize;
  if (!w || !b || w.shape[1] !== out || b.shape[0] !== out)
    fail(`theta: layer ${i} is not [in, ${out}] with a [${out}] bias (hiddenSize ${hiddenSize} in the recipe)`);
}
if (leaves.length !== Object.keys(shapes).length + nn.length)
  fail('theta: unexpected leaves beyond the decays and the MLP');

// The meta-loss of the last outer step run, and the mean of the last 25, from the metrics.
const metricsPath = args.metrics ?? join(dirname(resolve(args.input)), 'metrics.jsonl');
let finalMetaLoss = null;
let meanMetaLossLast25 = null;
if (outerStep !== null && existsSync(metricsPath)) {
  const byStep = new Map();
  for (const line of readFileSync(metricsPath, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      if (typeof r.step === 'number' && r.step < outerStep) byStep.set(r.step, r.loss);
    } catch {
      // A line being written while we read: ignore it.
    }
  }
  finalMetaLoss = byStep.get(outerStep - 1) ?? null;
  const last = [...byStep.entries()].filter(([s]) => s >= outerStep - 25).map(([, l]) => l);
  if (last.length) meanMetaLossLast25 = last.reduce((a, b) => a + b, 0) / last.length;
} else if (args.metrics !== undefined) fail(`${args.metrics}: not found`);

// Every value is a float32; keep the shortest text that reads back to the same float32.
const shortest = (v) => {
  const f = Math.fround(v);
  for (let p = 1; p <= 17; p++) {
    const s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) return String(Number(s));
  }
  return String(f);
};
// SHA-256 of the theta: every leaf's float32 values, little-endian, in leaf order.
const thetaBytes = Buffer.alloc(leaves.reduce((a, l) => a + l.values.length * 4, 0));
let at = 0;
for (const l of leaves) for (const v of l.values) at = thetaBytes.writeFloatLE(v, at);
const total = thetaBytes.length / 4;

const name = recipe.name;
const constName = name.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
const provenance = {
  name,
  learnedOptimizer: recipe.learnedOptimizer,
  recipe: {
    name,
    file: relative(repo, resolve(args.recipe)).split('\\').join('/'),
    sha256: sha256(recipeBytes),
    fingerprint: fingerprint ?? recipeFingerprint(recipe),
    outerSteps: recipe.outerSteps,
  },
  outerStep,
  finalMetaLoss,
  meanMetaLossLast25,
  source: { file: basename(args.input), format: doc.format, sha256: sha256(inputBytes) },
  thetaSha256: sha256(thetaBytes),
  numbers: total,
  date: new Date().toISOString(),
};

const entries = leaves.map(
  (l) => `  { path: '${l.path}', shape: [${l.shape.join(', ')}], values: [${l.values.map(shortest).join(', ')}] },`,
);
const module = `// Generated by scripts/bundle-lopt-theta.mjs from ${provenance.source.file} (SHA-256 ${provenance.source.sha256}); do not edit.
// The theta of AdafacMLPLOpt meta-trained by lopt's recipe ${provenance.recipe.file}, outer step ${outerStep ?? 'unknown'}.

import type { BundledThetaLeaf, BundledThetaProvenance } from './bundled-theta.js';

/** Provenance of the bundled theta. */
export const ${constName}_PROVENANCE: BundledThetaProvenance = ${JSON.stringify(provenance, null, 2)};

/** The bundled theta (${total} numbers), leaves in flattening order. */
export const ${constName}_WEIGHTS: readonly BundledThetaLeaf[] = [
${entries.join('\n')}
];
`;

function writeAtomic(target, text) {
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(`${target}.tmp`, text);
  renameSync(`${target}.tmp`, target);
}
const moduleFile = join(pkg, 'src', `${name}-weights.ts`);
const provenanceFile = join(pkg, 'pretrained', `${name}.provenance.json`);
writeAtomic(moduleFile, module);
writeAtomic(provenanceFile, `${JSON.stringify(provenance, null, 2)}\n`);
// The repository's formatter, so the generated module passes `pnpm lint` as written.
const biome = join(repo, 'node_modules', '.bin', 'biome');
if (existsSync(biome)) {
  const r = spawnSync(biome, ['format', '--write', moduleFile], { cwd: repo, stdio: 'pipe' });
  if (r.status !== 0) fail(`biome could not format ${moduleFile}: ${r.stderr}`);
}
console.log(
  `wrote ${relative(repo, moduleFile)} and ${relative(repo, provenanceFile)}: ${total} numbers, outer step ${outerStep}, meta-loss ${finalMetaLoss}`,
);
