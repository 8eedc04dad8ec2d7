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
    include: ['src/**/*.test.ts'],
  },
});
