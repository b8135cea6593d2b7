import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

// Read by the Vite plugin and by svelte-check. vitePreprocess runs <script lang="ts"> through
// Vite's own TypeScript transform, so components may use any TypeScript, not only annotations.
export default {
  preprocess: vitePreprocess(),
};
