import { defineConfig } from 'vitepress';

const tutorials = [
  { text: 'Part 1: Introduction', link: '/tutorials/part1-introduction' },
  { text: 'Part 2: Custom tasks', link: '/tutorials/part2-custom-tasks' },
  { text: 'Part 3: Truncated steps', link: '/tutorials/part3-truncated-steps' },
  { text: 'Part 4: Gradient estimators', link: '/tutorials/part4-gradient-estimators' },
  { text: 'Part 5: Meta-training', link: '/tutorials/part5-meta-training' },
  { text: 'Part 6: Your own learned optimizer', link: '/tutorials/part6-custom-lopt' },
  { text: 'Learned optimizers in model.fit', link: '/tutorials/layers-model-fit' },
  { text: 'Language models on real text', link: '/tutorials/language-models' },
];

export default defineConfig({
  title: 'lopt',
  description: 'Learned optimizers for TypeScript over TensorFlow.js',
  lang: 'en-US',
  cleanUrls: false,
  outDir: '../dist',
  // Dev-server cache under node_modules: ignored by git and the linter alike.
  cacheDir: '../node_modules/.cache/vitepress',
  // The API reference is generated into dist/api by typedoc after this build.
  ignoreDeadLinks: [/^\/api\//, /^\.\.?\/api\//],
  head: [
    ['meta', { name: 'theme-color', content: '#3451b2' }],
    ['link', { rel: 'icon', type: 'image/svg+xml', href: '/logo.svg' }],
  ],
  themeConfig: {
    logo: '/logo.svg',
    nav: [
      { text: 'Getting started', link: '/getting-started' },
      { text: 'Tutorials', link: '/tutorials/part1-introduction' },
      { text: 'Concepts', link: '/concepts' },
      { text: 'Live demo', link: '/demo' },
      { text: 'API', link: '/api/index.html', target: '_self' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Getting started', link: '/getting-started' },
          { text: 'Concepts', link: '/concepts' },
          { text: 'Train with a pretrained learned optimizer', link: '/pretrained-celo2' },
          { text: 'Live demo', link: '/demo' },
          { text: 'Live: tfjs-layers model.fit', link: '/layers-demo' },
          { text: 'Meta-training on many machines', link: '/distributed' },
        ],
      },
      { text: 'Tutorials', items: tutorials },
      { text: 'Reference', items: [{ text: 'API reference', link: '/api/index.html', target: '_self' }] },
    ],
    search: { provider: 'local' },
    outline: [2, 3],
  },
  markdown: {
    config(md) {
      // API pages are plain typedoc HTML, outside the single-page app: open them with a
      // normal page load instead of the client router.
      const previous = md.renderer.rules.link_open;
      md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
        const href = tokens[idx]!.attrGet('href') ?? '';
        if (/^(\.\.\/)*\/?api\//.test(href)) tokens[idx]!.attrSet('target', '_self');
        return previous ? previous(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options);
      };
    },
  },
  vite: {
    // lopt is bundled from its TypeScript sources, so the site builds without building
    // the packages first.
    resolve: { conditions: ['@lopt/source'] },
    ssr: { resolve: { conditions: ['@lopt/source'], externalConditions: ['@lopt/source'] } },
    worker: { format: 'es' },
    build: { chunkSizeWarningLimit: 4000 },
  },
});
