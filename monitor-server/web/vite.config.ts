import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The build lands in dist/, which monitor-server embeds and serves at `/`
// under a strict Content-Security-Policy: no inline script or style, every
// asset from the same origin with a hashed name (cached forever).
export default defineConfig({
  // Relative asset URLs: the page works at `/` and behind a reverse proxy's prefix.
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Every browser that runs this bundle supports modulepreload natively.
    modulePreload: { polyfill: false },
  },
  server: {
    // `cargo run -p monitor-server -- quickstart` listens here.
    proxy: { '/api': 'http://127.0.0.1:8001' },
  },
  test: {
    environment: 'node',
    // (api-types.test.mjs runs Node's own modules: plain JS, out of tsc's way.)
    include: ['src/**/*.test.ts', 'src/**/*.test.mjs'],
  },
});
