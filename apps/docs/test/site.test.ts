/**
 * The site as a visitor sees it: the built pages are served on 127.0.0.1 and opened in
 * headless Chromium, the live demo meta-trains LearnableAdam on Fashion-MNIST, and the
 * numbers it shows must move the right way with no console error on the way.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveDir } from '../scripts/serve.mjs';

const docsRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(docsRoot, 'dist');
const outDir = join(docsRoot, 'test-output');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const META_ITERATIONS = 200;

let server: { url: string; close(): Promise<void> };
let browser: Browser;

function htmlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'assets' ? [] : htmlFiles(p);
    return name.endsWith('.html') ? [p] : [];
  });
}

/** Opens `path` and records console errors, uncaught errors and failed requests. */
async function open(path: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('response', (r) => r.status() >= 400 && errors.push(`HTTP ${r.status()}: ${r.url()}`));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && errors.push(`worker: ${m.text()}`)));
  await page.goto(new URL(path, server.url).href, { waitUntil: 'load' });
  return { page, errors };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is required by the docs browser test and was not found at ${CHROMIUM}. ` +
        'Install it with `apt-get install chromium` (scripts/ci-system-deps.sh does this in CI), ' +
        'or point CHROMIUM_PATH at a Chromium binary.',
    );
  }
  if (!existsSync(join(dist, 'demo.html')) || process.env.LOPT_DOCS_REBUILD) {
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: docsRoot, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the docs build failed (exit ${r.status})`);
  }
  server = await serveDir(dist);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the built site', () => {
  it('has every page, the API reference, the wasm binaries and the data files', () => {
    for (const p of [
      'index.html',
      'getting-started.html',
      'concepts.html',
      'demo.html',
      ...[
        'part1-introduction',
        'part2-custom-tasks',
        'part3-truncated-steps',
        'part4-gradient-estimators',
        'part5-meta-training',
        'part6-custom-lopt',
      ].map((t) => `tutorials/${t}.html`),
      'api/index.html',
      'api/classes/_lopt_learned.LearnableAdam.html',
      'tfjs-wasm/tfjs-backend-wasm-simd.wasm',
      'data/fashion-mnist/train-images-idx3-ubyte.gz',
      'data/fashion-mnist/t10k-labels-idx1-ubyte.gz',
    ]) {
      expect(existsSync(join(dist, p)), p).toBe(true);
    }
  });

  it('has no broken internal link (pages, API reference, assets)', () => {
    const broken: string[] = [];
    for (const file of htmlFiles(dist).filter((f) => !relative(dist, f).startsWith('api'))) {
      const html = readFileSync(file, 'utf8');
      for (const [, href] of html.matchAll(/href="([^"#?]+)[^"]*"/g)) {
        if (/^[a-z]+:/i.test(href!) || href!.startsWith('//')) continue;
        const target = href!.startsWith('/') ? join(dist, href!) : join(dirname(file), href!);
        const ok = existsSync(target) || existsSync(`${target}.html`) || existsSync(join(target, 'index.html'));
        if (!ok) broken.push(`${relative(dist, file)} -> ${href}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('shows the code of each tutorial from the file CI runs', () => {
    const text = (p: string) => readFileSync(join(dist, p), 'utf8').replace(/<[^>]+>/g, '');
    for (const [n, file] of [
      [1, 'part1-introduction'],
      [2, 'part2-custom-tasks'],
      [3, 'part3-truncated-steps'],
      [4, 'part4-gradient-estimators'],
      [5, 'part5-meta-training'],
      [6, 'part6-custom-lopt'],
    ] as const) {
      const page = text(`tutorials/${file}.html`);
      expect(page, file).toContain(`export async function runPart${n}(`);
      expect(page, file).not.toMatch(/No such file|File not found/i);
    }
    expect(text('getting-started.html')).toContain('setupBackend');
  });

  it('renders the tutorials, concepts and API pages without console errors', async () => {
    for (const p of ['index.html', 'getting-started.html', 'concepts.html', 'tutorials/part1-introduction.html', 'api/index.html']) {
      const { page, errors } = await open(p);
      expect(await page.locator('h1').first().textContent(), p).toBeTruthy();
      expect(errors, p).toEqual([]);
      await page.close();
    }
  });

  it('reaches the API reference from the home page, and a tutorial from there', async () => {
    const { page, errors } = await open('index.html');
    await page.getByRole('link', { name: 'API reference' }).first().click();
    await page.waitForURL(/\/api\/index\.html$/);
    expect(await page.locator('h1').first().textContent()).toContain('lopt API reference');
    await page.getByRole('link', { name: 'Tutorials' }).first().click();
    await page.waitForURL(/\/tutorials\/part1-introduction\.html$/);
    expect(await page.locator('h1').first().textContent()).toContain('Part 1');
    // From a tutorial, an API link opens the typedoc page (a full load, not the app router).
    await page.locator('a[href*="/api/classes/_lopt_learned.LearnableAdam.html"]').first().click();
    await page.waitForURL(/LearnableAdam\.html$/);
    expect(await page.locator('h1').first().textContent()).toContain('LearnableAdam');
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('the live demo in headless Chromium', () => {
  it(`meta-trains LearnableAdam on Fashion-MNIST for ${META_ITERATIONS} iterations: meta-loss falls, learned lr rises`, async () => {
    const { page, errors } = await open(`demo.html?iterations=${META_ITERATIONS}`);
    await page.locator('#demo-task').selectOption('fashionMnist8');
    await page.locator('#demo-optimizer').selectOption('learnableAdam');
    await page.locator('#demo-backend').selectOption('wasm');
    await page.locator('#demo-start').click();

    // The page keeps rendering while the worker trains: the counter is seen mid-run.
    const counter = page.locator('#demo-iteration');
    await expect.poll(async () => Number((await counter.textContent())!.split('/')[0]), { timeout: 120_000, interval: 100 })
      .toBeGreaterThan(0);
    const midway = Number((await counter.textContent())!.split('/')[0]);
    expect(midway).toBeLessThan(META_ITERATIONS);
    expect(await page.locator('#demo-stop').isEnabled()).toBe(true);

    await page.locator('.demo[data-state="done"], .demo[data-state="error"]').waitFor({ timeout: 150_000 });
    const read = async (id: string) => Number(await page.locator(id).textContent());
    const shown = {
      status: await page.locator('#demo-status').textContent(),
      iterations: await counter.textContent(),
      backend: await page.locator('#demo-backend-used').textContent(),
      lossStart: await read('#demo-loss-start'),
      lossNow: await read('#demo-loss-now'),
      lrStart: await read('#demo-lr-start'),
      lrNow: await read('#demo-lr-now'),
    };
    mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: join(outDir, 'demo.png'), fullPage: true });
    console.log('docs demo in Chromium:', JSON.stringify(shown));

    expect(shown.status).toMatch(/^Done after/);
    expect(shown.iterations).toBe(`${META_ITERATIONS} / ${META_ITERATIONS}`);
    expect(shown.backend).toBe('wasm');
    expect(shown.lossStart).toBeGreaterThan(2.1); // about ln 10 at the initial lr 1e-3
    expect(shown.lossNow).toBeLessThan(shown.lossStart - 0.1);
    expect(shown.lrStart).toBeCloseTo(1e-3, 4);
    expect(shown.lrNow).toBeGreaterThan(3 * shown.lrStart);
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);

  it('runs on WebGL when the browser has it (else falls back to wasm and says so)', async () => {
    const { page } = await open('demo.html?iterations=40');
    await page.locator('#demo-backend').selectOption('webgl');
    await page.locator('#demo-start').click();
    await page.locator('.demo[data-state="done"], .demo[data-state="error"]').waitFor({ timeout: 120_000 });
    expect(await page.locator('#demo-status').textContent()).toMatch(/^Done after 40 iterations/);
    const backend = await page.locator('#demo-backend-used').textContent();
    console.log(`docs demo WebGL choice ran on: ${backend}`);
    expect(['webgl', 'wasm']).toContain(backend);
    // Same meta-training as on wasm: starts at ln 10-ish, the learned rate grows.
    expect(Number(await page.locator('#demo-loss-start').textContent())).toBeCloseTo(2.269, 2);
    expect(Number(await page.locator('#demo-lr-now').textContent())).toBeGreaterThan(
      Number(await page.locator('#demo-lr-start').textContent()),
    );
    await page.close();
  }, 150_000);

  it('meta-trains LearnableAdam on the quadratic family', async () => {
    const { page, errors } = await open('demo.html?iterations=100');
    await page.locator('#demo-task').selectOption('quadraticFamily');
    await page.locator('#demo-optimizer').selectOption('learnableAdam');
    await page.locator('#demo-start').click();
    await page.locator('.demo[data-state="done"], .demo[data-state="error"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('#demo-status').textContent()).toMatch(/^Done after 100 iterations/);
    const read = async (id: string) => Number(await page.locator(id).textContent());
    expect(await read('#demo-loss-now')).toBeLessThan(await read('#demo-loss-start'));
    expect(await read('#demo-lr-now')).toBeGreaterThan(1.5 * (await read('#demo-lr-start')));
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);

  it('stops on Stop (Adam on the quadratic family)', async () => {
    const { page, errors } = await open('demo.html?iterations=100000');
    await page.locator('#demo-task').selectOption('quadraticFamily');
    await page.locator('#demo-optimizer').selectOption('adam');
    await page.locator('#demo-start').click();
    const counter = page.locator('#demo-iteration');
    await expect.poll(async () => Number((await counter.textContent())!.split('/')[0]), { timeout: 60_000, interval: 100 })
      .toBeGreaterThan(5);
    await page.locator('#demo-stop').click();
    await page.locator('.demo[data-state="stopped"]').waitFor({ timeout: 30_000 });
    const stoppedAt = Number((await counter.textContent())!.split('/')[0]);
    expect(stoppedAt).toBeLessThan(100_000);
    expect(await page.locator('#demo-start').isEnabled()).toBe(true);
    // Training the quadratic with Adam lowers its loss.
    expect(Number(await page.locator('#demo-loss-now').textContent())).toBeLessThan(
      Number(await page.locator('#demo-loss-start').textContent()),
    );
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});

describe('the tfjs-layers page in headless Chromium', () => {
  it('is built, with its tutorial and API pages', () => {
    for (const p of ['layers-demo.html', 'tutorials/layers-model-fit.html', 'api/functions/_lopt_layers.asTfOptimizer.html']) {
      expect(existsSync(join(dist, p)), p).toBe(true);
    }
    const tutorial = readFileSync(join(dist, 'tutorials/layers-model-fit.html'), 'utf8').replace(/<[^>]+>/g, '');
    expect(tutorial).toContain('asTfOptimizer(lopt.optFn(theta');
    expect(tutorial).toContain('await model.fit(train.x, train.y');
  });

  it('trains a tfjs-layers model live with LearnableAdam through asTfOptimizer: loss falls, test accuracy above 70%', async () => {
    const { page, errors } = await open('layers-demo.html?epochs=3');
    await page.locator('#layers-optimizer').selectOption('learnableAdam');
    await page.locator('#layers-start').click();

    // The page keeps rendering while model.fit runs in the worker: the step counter is seen mid-run.
    const counter = page.locator('#layers-step');
    await expect.poll(async () => Number((await counter.textContent())!.split('/')[0]), { timeout: 120_000, interval: 100 })
      .toBeGreaterThan(0);
    expect(Number((await counter.textContent())!.split('/')[0])).toBeLessThan(192);
    expect(await page.locator('#layers-stop').isEnabled()).toBe(true);

    await page.locator('.layers-demo[data-state="done"], .layers-demo[data-state="error"]').waitFor({ timeout: 200_000 });
    const shown = {
      status: await page.locator('#layers-status').textContent(),
      steps: await counter.textContent(),
      backend: await page.locator('#layers-backend-used').textContent(),
      lossStart: Number(await page.locator('#layers-loss-start').textContent()),
      lossNow: Number(await page.locator('#layers-loss-now').textContent()),
      accuracy: Number(await page.locator('#layers-accuracy').textContent()),
      epochRows: await page.locator('#layers-epochs-table tr').count(),
    };
    mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: join(outDir, 'layers-demo.png'), fullPage: true });
    console.log('docs tfjs-layers page in Chromium:', JSON.stringify(shown));

    expect(shown.status).toMatch(/^Done after 3 epochs on the wasm backend/);
    expect(shown.steps).toBe('192 / 192');
    expect(shown.backend).toBe('wasm');
    expect(shown.epochRows).toBe(3);
    expect(shown.lossStart).toBeGreaterThan(1.8); // near ln 10 for the untrained model
    expect(shown.lossNow).toBeLessThan(shown.lossStart - 1);
    expect(shown.accuracy).toBeGreaterThan(0.7);
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('stops on Stop', async () => {
    const { page, errors } = await open('layers-demo.html?epochs=50');
    await page.locator('#layers-optimizer').selectOption('nnAdam');
    await page.locator('#layers-start').click();
    const counter = page.locator('#layers-step');
    await expect.poll(async () => Number((await counter.textContent())!.split('/')[0]), { timeout: 120_000, interval: 100 })
      .toBeGreaterThan(5);
    await page.locator('#layers-stop').click();
    await page.locator('.layers-demo[data-state="stopped"]').waitFor({ timeout: 60_000 });
    expect(Number((await counter.textContent())!.split('/')[0])).toBeLessThan(50 * 64);
    expect(await page.locator('#layers-start').isEnabled()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  }, 200_000);
});
