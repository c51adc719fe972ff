/**
 * The site as a visitor sees it: the built pages are served on 127.0.0.1 and opened in
 * headless Chromium. Every page loads with no console error and no broken link, the API
 * reference is part of the site (its nav bar, its search), and the live demo meta-trains at
 * desktop and phone sizes with the numbers it shows moving the right way. Screenshots go to
 * `.artifacts/` (kept by CI).
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
const artifacts = join(docsRoot, '.artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const META_ITERATIONS = 200;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let server: { url: string; close(): Promise<void> };
let browser: Browser;

function htmlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'assets' ? [] : htmlFiles(p);
    return name.endsWith('.html') && name !== '404.html' ? [p] : [];
  });
}

/** Opens `path` and records console errors, uncaught errors and failed requests. */
async function open(path: string, viewport = DESKTOP): Promise<{ page: Page; errors: string[]; status: number }> {
  const page = await browser.newPage({ viewport, deviceScaleFactor: 1 });
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('response', (r) => r.status() >= 400 && errors.push(`HTTP ${r.status()}: ${r.url()}`));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && errors.push(`worker: ${m.text()}`)));
  // Generous: a loaded machine (CI runs other suites beside this one) can take long to load a page.
  const response = await page.goto(new URL(path, server.url).href, { waitUntil: 'load', timeout: 120_000 });
  return { page, errors, status: response?.status() ?? 0 };
}

const shot = async (page: Page, name: string) => {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, name), fullPage: true });
  // The demo card alone, at the size a visitor sees it.
  if (await page.locator('.demo').count())
    await page.locator('.demo').screenshot({ path: join(artifacts, name.replace('.png', '-card.png')) });
};

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
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the built site', () => {
  const pages = () => htmlFiles(dist).map((f) => relative(dist, f).split('\\').join('/'));

  it('has every guide page, tutorial, API page, the wasm binaries and the demo data', () => {
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
      'api/@lopt/pytree/index.html',
      'api/@lopt/learned.html',
      'api/@lopt/outer-trainers.html',
      'tfjs-wasm/tfjs-backend-wasm-simd.wasm',
      'data/fashion-mnist/train-images-idx3-ubyte.gz',
      'data/fashion-mnist/t10k-labels-idx1-ubyte.gz',
      'data/fashion-mnist/sizes.json',
    ]) {
      expect(existsSync(join(dist, p)), p).toBe(true);
    }
    const apiPages = pages().filter((p) => p.startsWith('api/'));
    console.log(`docs site: ${pages().length} pages, ${apiPages.length} of them API reference`);
    expect(apiPages.length).toBeGreaterThanOrEqual(9); // the index, the package list, one page per package and namespace
  });

  it('has no broken internal link on any page (pages, API reference, assets, anchors)', () => {
    const broken: string[] = [];
    let checked = 0;
    const ids = new Map<string, Set<string>>();
    const idsOf = (file: string) => {
      if (!ids.has(file))
        ids.set(file, new Set([...readFileSync(file, 'utf8').matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!)));
      return ids.get(file)!;
    };
    for (const file of htmlFiles(dist)) {
      const html = readFileSync(file, 'utf8');
      for (const [, raw] of html.matchAll(/<a [^>]*href="([^"?]+)[^"]*"/g)) {
        const [href, hash] = raw!.split('#') as [string, string | undefined];
        if (/^[a-z]+:/i.test(href) || href.startsWith('//')) continue;
        checked++;
        let target =
          href === ''
            ? file
            : href.startsWith('/')
              ? join(dist, decodeURIComponent(href))
              : join(dirname(file), decodeURIComponent(href));
        if (existsSync(target) && statSync(target).isDirectory()) target = join(target, 'index.html');
        else if (!existsSync(target) && existsSync(`${target}.html`)) target = `${target}.html`;
        if (!existsSync(target)) broken.push(`${relative(dist, file)} -> ${raw}`);
        else if (hash && target.endsWith('.html') && !idsOf(target).has(decodeURIComponent(hash)))
          broken.push(`${relative(dist, file)} -> ${raw} (no such anchor)`);
      }
    }
    console.log(`docs site: ${checked} internal links checked`);
    expect(broken).toEqual([]);
  });

  it("shows each tutorial's code from the file CI runs, with its output", () => {
    const text = (p: string) =>
      readFileSync(join(dist, p), 'utf8')
        .replace(/<[^>]+>/g, '')
        .replace(/&#39;/g, "'")
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
    for (const [n, file, printed] of [
      [1, 'part1-introduction', 'meta-iteration 1900: meta-loss'],
      [2, 'part2-custom-tasks', 'MyFashionMnistTask: train loss'],
      [3, 'part3-truncated-steps', 'sequential losses (NaN = reset)'],
      [4, 'part4-gradient-estimators', 'TruncatedGrad grad:'],
      [5, 'part5-meta-training', 'worker loop step 19: meta-loss'],
      [6, 'part6-custom-lopt', 'held-out loss after 10 steps'],
    ] as const) {
      const page = text(`tutorials/${file}.html`);
      expect(page, file).toContain(`export async function runPart${n}(`);
      expect(page, file).toContain(printed);
      expect(page, file).not.toMatch(/No such file|File not found|@include/i);
    }
    const start = text('getting-started.html');
    for (const s of [
      "import { setupBackend } from '@lopt/pytree'",
      'grads.w: [ 3, 5, 7 ]',
      'tensors left: 0',
      'pnpm@10.34.8 pack',
    ]) {
      expect(start).toContain(s);
    }
  });

  it('loads every page (guide, tutorials, API reference) with status 200 and no console error', async () => {
    const all = pages();
    const failures: string[] = [];
    const queue = [...all];
    const worker = async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        const { page, errors, status } = await open(p);
        const h1 = await page
          .locator('h1')
          .first()
          .textContent({ timeout: 10_000 })
          .catch(() => null);
        if (status !== 200) failures.push(`${p}: HTTP ${status}`);
        if (!h1) failures.push(`${p}: no heading`);
        for (const e of errors) failures.push(`${p}: ${e}`);
        await page.close();
      }
    };
    await Promise.all([worker(), worker()]);
    console.log(`docs site: ${all.length} pages loaded in Chromium`);
    expect(failures).toEqual([]);
  }, 900_000);

  it('puts the API reference in the site: linked from the home page, one nav bar, in the search', async () => {
    const { page, errors } = await open('index.html');
    await page.locator('.VPHero').getByRole('link', { name: 'API reference' }).click();
    await page.waitForURL(/\/api\/(index\.html)?$/);
    await expect.poll(() => page.locator('h1').first().textContent(), { timeout: 10_000 }).toContain('API reference');
    // Each package is linked from the reference's first page.
    for (const pkg of ['pytree', 'datasets', 'tasks', 'optimizers', 'learned', 'outer-trainers']) {
      expect(await page.locator(`.vp-doc a[href*="/api/@lopt/${pkg}"]`).count(), pkg).toBeGreaterThan(0);
    }
    // Same nav bar and sidebar as every page; the heading appears once.
    expect(await page.locator('.VPNav').count()).toBe(1);
    expect(await page.locator('.VPSidebar').getByText('Part 1: Introduction').count()).toBe(1);
    expect(await page.getByRole('heading', { name: 'API reference', exact: true }).count()).toBe(1);
    await shot(page, 'api-index.png');

    // The site search finds an API page.
    await page.locator('.VPNavBarSearch button').click();
    await page.locator('.VPLocalSearchBox input').fill('MLPLOpt');
    const hit = page.locator('.VPLocalSearchBox a[href*="/api/@lopt/learned.html#mlplopt"]').first();
    await hit.waitFor({ timeout: 20_000 });
    await hit.click();
    await page.waitForURL(/\/api\/@lopt\/learned\.html#mlplopt$/);
    await expect.poll(() => page.locator('h1').first().textContent(), { timeout: 10_000 }).toContain('@lopt/learned');
    expect(await page.locator('h3#mlplopt').textContent()).toContain('MLPLOpt');
    // From an API page, a tutorial is one click in the same sidebar.
    await page.locator('.VPSidebar').getByRole('link', { name: 'Part 1: Introduction' }).click();
    await page.waitForURL(/\/tutorials\/part1-introduction\.html$/);
    await expect.poll(() => page.locator('h1').first().textContent(), { timeout: 10_000 }).toContain('Part 1');
    expect(errors).toEqual([]);
    await page.close();
  });
});

/**
 * Polls until the counter `counterSel` ("n / total") shows a first step, and returns that
 * count with the Stop button's state, both read in one go in the page (a second read could
 * come after the run ended).
 */
async function midRun(
  page: Page,
  counterSel: string,
  stopSel: string,
): Promise<{ count: number; stopEnabled: boolean }> {
  let seen = { count: 0, stopEnabled: false };
  const read = () =>
    page.evaluate(
      ([c, s]) => ({
        count: Number(document.querySelector(c!)!.textContent!.split('/')[0]),
        stopEnabled: !(document.querySelector(s!) as HTMLButtonElement).disabled,
      }),
      [counterSel, stopSel],
    );
  await expect
    .poll(
      async () => {
        seen = await read();
        return seen.count;
      },
      { timeout: 120_000, interval: 100 },
    )
    .toBeGreaterThan(0);
  return seen;
}

/** Layout checks of the demo card at the page's current size. */
async function checkDemoLayout(page: Page, label: string) {
  const box = async (sel: string) => (await page.locator(sel).boundingBox())!;
  const card = await box('.demo');
  for (const sel of [
    '#demo-task',
    '#demo-optimizer',
    '#demo-backend',
    '#demo-iterations',
    '#demo-start',
    '#demo-progress',
  ]) {
    const b = await box(sel);
    expect(b.x, `${label}: ${sel} left`).toBeGreaterThanOrEqual(card.x - 0.5);
    expect(b.x + b.width, `${label}: ${sel} right`).toBeLessThanOrEqual(card.x + card.width + 0.5);
  }
  // The progress bar spans most of the card, not a stub beside the counter.
  expect((await box('#demo-progress')).width, `${label}: progress width`).toBeGreaterThan(0.5 * card.width);
  // Dropdowns show an arrow and their whole label.
  for (const sel of ['#demo-task', '#demo-optimizer', '#demo-backend']) {
    const style = await page.locator(sel).evaluate((el) => {
      const s = getComputedStyle(el);
      return { arrow: s.backgroundImage, appearance: s.appearance };
    });
    expect(style.appearance !== 'none' || style.arrow.includes('svg'), `${label}: ${sel} arrow`).toBe(true);
    const fits = await page.locator(sel).evaluate((el) => {
      const s = el as HTMLSelectElement;
      const text = s.options[s.selectedIndex]!.text;
      const c = document.createElement('canvas').getContext('2d')!;
      c.font = getComputedStyle(s).font;
      const pad =
        Number.parseFloat(getComputedStyle(s).paddingLeft) + Number.parseFloat(getComputedStyle(s).paddingRight);
      return c.measureText(text).width + pad <= s.clientWidth + 1;
    });
    expect(fits, `${label}: ${sel} label fits`).toBe(true);
  }
  // Nothing scrolls sideways.
  expect(
    await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
    `${label}: no sideways scroll`,
  ).toBe(true);
}

describe('the live demo in headless Chromium', () => {
  it(`meta-trains LearnableAdam on Fashion-MNIST for ${META_ITERATIONS} iterations at desktop size, showing the download`, async () => {
    const { page, errors } = await open(`demo.html?iterations=${META_ITERATIONS}`);
    await checkDemoLayout(page, 'desktop');
    await shot(page, 'demo-desktop-idle.png');
    await page.locator('#demo-task').selectOption('fashionMnist8');
    await page.locator('#demo-optimizer').selectOption('learnableAdam');
    await page.locator('#demo-backend').selectOption('wasm');
    await page.locator('#demo-start').click();

    // The download shows its progress against the whole dataset's size.
    const sizes = JSON.parse(readFileSync(join(dist, 'data/fashion-mnist/sizes.json'), 'utf8')) as Record<
      string,
      number
    >;
    const totalMb = (Object.values(sizes).reduce((a, b) => a + b, 0) / 1e6).toFixed(1);
    await page.locator('#demo-download-text').waitFor({ timeout: 60_000 });
    await expect
      .poll(() => page.locator('#demo-download-text').textContent(), { timeout: 60_000 })
      .toBe(`${totalMb} / ${totalMb} MB`);

    // The page keeps rendering while the worker trains: the counter is seen mid-run.
    const counter = page.locator('#demo-iteration');
    const midway = await midRun(page, '#demo-iteration', '#demo-stop');
    expect(midway.count).toBeLessThan(META_ITERATIONS);
    expect(midway.stopEnabled).toBe(true);

    await page.locator('.demo[data-state="done"], .demo[data-state="error"]').waitFor({ timeout: 200_000 });
    const read = async (id: string) => Number(await page.locator(id).textContent());
    const shown = {
      status: await page.locator('#demo-status').textContent(),
      iterations: await counter.textContent(),
      backend: await page.locator('#demo-backend-used').textContent(),
      download: await page.locator('#demo-download-text').textContent(),
      lossStart: await read('#demo-loss-start'),
      lossNow: await read('#demo-loss-now'),
      lrStart: await read('#demo-second-start'),
      lrNow: await read('#demo-second-now'),
    };
    await checkDemoLayout(page, 'desktop, trained');
    await shot(page, 'demo-desktop.png');
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
  }, 400_000);

  it('at phone size: the controls fit the card, the bars span it, and the quadratic run trains', async () => {
    const { page, errors } = await open('demo.html?iterations=100', PHONE);
    await page.locator('#demo-task').selectOption('quadraticFamily');
    await page.locator('#demo-optimizer').selectOption('learnableAdam');
    await checkDemoLayout(page, 'phone');
    await page.locator('#demo-start').click();
    await page.locator('.demo[data-state="done"], .demo[data-state="error"]').waitFor({ timeout: 120_000 });
    expect(await page.locator('#demo-status').textContent()).toMatch(/^Done after 100 iterations/);
    const read = async (id: string) => Number(await page.locator(id).textContent());
    expect(await read('#demo-loss-now')).toBeLessThan(await read('#demo-loss-start'));
    expect(await read('#demo-second-now')).toBeGreaterThan(1.5 * (await read('#demo-second-start')));
    // A loss is never negative, and neither is the chart's axis.
    const ticks = await page.locator('.demo-charts figure').first().locator('.lc-tick').allTextContents();
    expect(
      ticks
        .filter((t) => /^-?[\d.e+-]+$/.test(t))
        .map(Number)
        .every((v) => v >= 0),
      ticks.join(' '),
    ).toBe(true);
    await checkDemoLayout(page, 'phone, trained');
    await shot(page, 'demo-phone.png');
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it('meta-trains MLPLOpt and AdafacMLPLOpt with PES on Fashion-MNIST, showing the evaluation', async () => {
    for (const [optimizer, iterations] of [
      ['mlpLOptPes', 11],
      ['adafacMlpLOptPes', 2],
    ] as const) {
      const { page, errors } = await open(`demo.html?iterations=${iterations}&optimizer=${optimizer}`);
      expect(await page.locator('#demo-optimizer').inputValue()).toBe(optimizer);
      await page.locator('#demo-start').click();
      await page.locator('.demo[data-state="done"], .demo[data-state="error"]').waitFor({ timeout: 400_000 });
      expect(await page.locator('#demo-status').textContent()).toMatch(
        new RegExp(`^Done after ${iterations} iterations`),
      );
      const read = async (id: string) => Number(await page.locator(id).textContent());
      const shown = {
        lossStart: await read('#demo-loss-start'),
        lossNow: await read('#demo-loss-now'),
        evalStart: await read('#demo-second-start'),
        evalNow: await read('#demo-second-now'),
      };
      console.log(`docs demo ${optimizer}:`, JSON.stringify(shown));
      // Untrained learned optimizers barely move an 8x8 MLP: losses start near ln 10.
      expect(shown.lossStart).toBeGreaterThan(1.5);
      expect(shown.evalStart).toBeGreaterThan(2.0);
      for (const v of Object.values(shown)) expect(Number.isFinite(v) && v > 0).toBe(true);
      expect(await page.locator('.demo-charts figure').nth(1).locator('figcaption').textContent()).toContain(
        'Evaluation',
      );
      await shot(page, `demo-${optimizer}.png`);
      expect(errors).toEqual([]);
      await page.close();
    }
  }, 900_000);

  it('runs on WebGL when the browser has it (else falls back to wasm and says so), explaining the wait', async () => {
    const { page } = await open('demo.html?iterations=40');
    await page.locator('#demo-backend').selectOption('webgl');
    await page.locator('#demo-start').click();
    // The first WebGL iteration compiles shaders for seconds: the page explains the wait.
    await page.locator('#demo-warmup, .demo[data-state="done"]').first().waitFor({ timeout: 120_000 });
    const explained = await page.locator('#demo-warmup').isVisible();
    await page.locator('.demo[data-state="done"], .demo[data-state="error"]').waitFor({ timeout: 200_000 });
    expect(await page.locator('#demo-status').textContent()).toMatch(/^Done after 40 iterations/);
    expect(await page.locator('#demo-warmup').count()).toBe(0); // gone once training moves
    const backend = await page.locator('#demo-backend-used').textContent();
    console.log(`docs demo WebGL choice ran on: ${backend}; warm-up explained: ${explained}`);
    expect(explained).toBe(true);
    expect(['webgl', 'wasm']).toContain(backend);
    // Same meta-training as on wasm: starts at ln 10-ish, the learned rate grows.
    expect(Number(await page.locator('#demo-loss-start').textContent())).toBeCloseTo(2.269, 2);
    expect(Number(await page.locator('#demo-second-now').textContent())).toBeGreaterThan(
      Number(await page.locator('#demo-second-start').textContent()),
    );
    await page.close();
  }, 300_000);

  it('stops on Stop (Adam on the quadratic family)', async () => {
    const { page, errors } = await open('demo.html?iterations=100000');
    await page.locator('#demo-task').selectOption('quadraticFamily');
    await page.locator('#demo-optimizer').selectOption('adam');
    await page.locator('#demo-start').click();
    const counter = page.locator('#demo-iteration');
    await expect
      .poll(async () => Number((await counter.textContent())!.split('/')[0]), { timeout: 60_000, interval: 100 })
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
    for (const p of ['layers-demo.html', 'tutorials/layers-model-fit.html', 'api/@lopt/layers.html']) {
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
    const midway = await midRun(page, '#layers-step', '#layers-stop');
    expect(midway.count).toBeLessThan(192);
    expect(midway.stopEnabled).toBe(true);

    await page
      .locator('.layers-demo[data-state="done"], .layers-demo[data-state="error"]')
      .waitFor({ timeout: 200_000 });
    const shown = {
      status: await page.locator('#layers-status').textContent(),
      steps: await counter.textContent(),
      backend: await page.locator('#layers-backend-used').textContent(),
      lossStart: Number(await page.locator('#layers-loss-start').textContent()),
      lossNow: Number(await page.locator('#layers-loss-now').textContent()),
      accuracy: Number(await page.locator('#layers-accuracy').textContent()),
      epochRows: await page.locator('#layers-epochs-table tr').count(),
    };
    await shot(page, 'layers-demo.png');
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

  it('trains the same model live with Celo2, the pretrained learned optimizer (its published theta): loss falls, accuracy above 55%', async () => {
    const { page, errors } = await open('layers-demo.html?epochs=3');
    await page.locator('#layers-optimizer').selectOption('celo2');
    await page.locator('#layers-start').click();
    await page
      .locator('.layers-demo[data-state="done"], .layers-demo[data-state="error"]')
      .waitFor({ timeout: 200_000 });
    const shown = {
      status: await page.locator('#layers-status').textContent(),
      lossStart: Number(await page.locator('#layers-loss-start').textContent()),
      lossNow: Number(await page.locator('#layers-loss-now').textContent()),
      accuracy: Number(await page.locator('#layers-accuracy').textContent()),
    };
    await shot(page, 'layers-demo-celo2.png');
    console.log('docs tfjs-layers page in Chromium, Celo2:', JSON.stringify(shown));
    expect(shown.status).toMatch(/^Done after 3 epochs on the wasm backend/);
    expect(shown.lossNow).toBeLessThan(shown.lossStart - 0.5);
    expect(shown.accuracy).toBeGreaterThan(0.55); // 68-70% measured in Node
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  it('stops on Stop', async () => {
    const { page, errors } = await open('layers-demo.html?epochs=50');
    await page.locator('#layers-optimizer').selectOption('nnAdam');
    await page.locator('#layers-start').click();
    const counter = page.locator('#layers-step');
    await expect
      .poll(async () => Number((await counter.textContent())!.split('/')[0]), { timeout: 120_000, interval: 100 })
      .toBeGreaterThan(5);
    await page.locator('#layers-stop').click();
    await page.locator('.layers-demo[data-state="stopped"]').waitFor({ timeout: 60_000 });
    expect(Number((await counter.textContent())!.split('/')[0])).toBeLessThan(50 * 64);
    expect(await page.locator('#layers-start').isEnabled()).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  }, 200_000);
});

describe("the page on lopt's own learned optimizer in headless Chromium", () => {
  const provenance = JSON.parse(
    readFileSync(join(docsRoot, '../../packages/learned/pretrained/adafac-small-fc-v1.provenance.json'), 'utf8'),
  ) as { outerStep: number; recipe: { outerSteps: number } };
  const heldOut = JSON.parse(readFileSync(join(docsRoot, 'site/outputs/lopt-v1/held-out/results.json'), 'utf8')) as {
    tasks: { id: string }[];
    leftOut: string[];
  };

  it('shows the recipe, the command, the shipped step, the held-out table and every figure', async () => {
    const { page, errors } = await open('lopt-learned-optimizer.html');
    expect(await page.locator('h1').first().textContent()).toContain("lopt's own learned optimizer");
    const text = (await page.locator('.vp-doc').textContent())!;
    // The recipe, from the repository's file.
    expect(text).toContain('"name": "adafac-small-fc-v1"');
    expect(text).toContain('"outerSteps": 3000');
    expect(text).toContain('lopt meta-train --recipe recipes/adafac-small-fc-v1.json --out runs/v1');
    expect(text).toContain('--resume');
    // The honest statement of which outer step the shipped theta comes from.
    expect(text).toContain(`outer step ${provenance.outerStep} of the recipe's ${provenance.recipe.outerSteps}`);
    // The held-out table: a row per evaluated task (six, or those finished with the others
    // named), each a win or a loss against Adam 1e-3, and the count.
    const n = heldOut.tasks.length;
    expect(n + heldOut.leftOut.length).toBe(6);
    const rows = page.locator('.vp-doc table').first().locator('tbody tr');
    expect(await rows.count()).toBe(n);
    for (let i = 0; i < n; i++) expect(await rows.nth(i).textContent()).toMatch(/(win|lose)\s*(win|lose)\s*$/);
    expect(text).toContain(`lopt adafac-small-fc-v1 beats Adam(0.001) on`);
    expect(text).toContain(`of ${n} tasks`);
    // The meta-training curves and one plot per held-out task (a note for one not evaluated), all loaded.
    const images = page.locator('.vp-doc img');
    expect(await images.count()).toBe(7);
    await expect
      .poll(() => images.evaluateAll((els) => els.filter((e) => (e as HTMLImageElement).naturalWidth === 0).length), {
        timeout: 30_000,
      })
      .toBe(0);
    await shot(page, 'lopt-learned-optimizer.png');
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('is in the sidebar and linked from the pretrained Celo2 page', async () => {
    const { page, errors } = await open('pretrained-celo2.html');
    expect(await page.locator('.VPSidebar').getByRole('link', { name: "lopt's own learned optimizer" }).count()).toBe(
      1,
    );
    await page.locator('.vp-doc').getByRole('link', { name: "lopt's own learned optimizer" }).click();
    await page.waitForURL(/\/lopt-learned-optimizer\.html$/);
    await expect
      .poll(() => page.locator('h1').first().textContent(), { timeout: 10_000 })
      .toContain("lopt's own learned optimizer");
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
