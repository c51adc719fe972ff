import { existsSync, readFileSync } from 'node:fs';
import { type DefaultTheme, defineConfig } from 'vitepress';

/**
 * Every page of the site, in reading order: the sidebar shows these groups and the nav
 * bar links their first pages. A new page is one line in one of these lists.
 */
const pages: DefaultTheme.SidebarItem[] = [
  {
    text: 'Guide',
    items: [
      { text: 'Getting started', link: '/getting-started' },
      { text: 'Concepts', link: '/concepts' },
      { text: 'Train with a pretrained learned optimizer', link: '/pretrained-celo2' },
      { text: "lopt's own learned optimizer", link: '/lopt-learned-optimizer' },
      { text: 'Live demo', link: '/demo' },
      { text: 'Live: tfjs-layers model.fit', link: '/layers-demo' },
      { text: 'Meta-training on many machines', link: '/distributed' },
    ],
  },
  {
    text: 'Tutorials',
    items: [
      { text: 'Part 1: Introduction', link: '/tutorials/part1-introduction' },
      { text: 'Part 2: Custom tasks', link: '/tutorials/part2-custom-tasks' },
      { text: 'Part 3: Truncated steps', link: '/tutorials/part3-truncated-steps' },
      { text: 'Part 4: Gradient estimators', link: '/tutorials/part4-gradient-estimators' },
      { text: 'Part 5: Meta-training', link: '/tutorials/part5-meta-training' },
      { text: 'Part 6: Your own learned optimizer', link: '/tutorials/part6-custom-lopt' },
      { text: 'Learned optimizers in model.fit', link: '/tutorials/layers-model-fit' },
      { text: 'Language models on real text', link: '/tutorials/language-models' },
    ],
  },
];

/** The API reference's sidebar, written by typedoc (scripts/build.mjs runs it first). */
function apiSidebar(): DefaultTheme.SidebarItem[] {
  const file = new URL('../api/typedoc-sidebar.json', import.meta.url);
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')) as DefaultTheme.SidebarItem[];
}

const sidebar: DefaultTheme.SidebarItem[] = [
  ...pages,
  { text: 'API reference', link: '/api/', collapsed: false, items: apiSidebar() },
];

export default defineConfig({
  title: 'lopt',
  description: 'Learned optimizers for TypeScript over TensorFlow.js',
  lang: 'en-US',
  cleanUrls: false,
  outDir: '../dist',
  // Generated output that pages include but that is no page of its own.
  srcExclude: ['**/outputs/**'],
  // Dev-server cache under node_modules: ignored by git and the linter alike.
  cacheDir: '../node_modules/.cache/vitepress',
  head: [
    ['meta', { name: 'theme-color', content: '#3451b2' }],
    ['link', { rel: 'icon', type: 'image/svg+xml', href: '/logo.svg' }],
  ],
  themeConfig: {
    logo: '/logo.svg',
    nav: [
      ...pages.map((group) => ({ text: group.text!, link: group.items![0]!.link! })),
      { text: 'Live demo', link: '/demo' },
      { text: 'API', link: '/api/' },
    ],
    sidebar,
    search: { provider: 'local' },
    outline: [2, 3],
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
