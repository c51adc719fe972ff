import type { Theme } from 'vitepress';
import DefaultTheme from 'vitepress/theme';
import LayersDemo from './LayersDemo.vue';
import LiveDemo from './LiveDemo.vue';

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('LiveDemo', LiveDemo);
    app.component('LayersDemo', LayersDemo);
  },
} satisfies Theme;
