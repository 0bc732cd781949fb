// The dashboard build: `npm run build:ui` writes web/dist, which the HTTP listener serves
// at / (src/web/static-ui.ts). `npx vite --config web/vite.config.ts` serves it with hot
// reload, proxying /api to a running Postline on 127.0.0.1:8025.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No source maps in the served build: they would double what the listener holds in memory.
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8025' } },
});
