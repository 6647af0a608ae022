// Builds the viewer widgets into the API's static folder (served at /static/viewer/).
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin, type Rolldown } from 'vite';

type LogLevel = Rolldown.LogLevel;
type RolldownLog = Rolldown.RolldownLog;

// The wasm codecs' Emscripten glue mentions fs/path for Node; in the browser those branches
// never run, so Vite's "externalized for browser compatibility" notices are noise.
const quietExternalized = (
  level: LogLevel,
  log: RolldownLog,
  handler: (level: LogLevel, log: RolldownLog) => void,
): void => {
  if (log.message.includes('has been externalized for browser compatibility')) return;
  handler(level, log);
};

const here = dirname(fileURLToPath(import.meta.url));
const staticDir = resolve(here, '../imagehub_api/static');

// Files the portal loads as they are published, not bundled: htmx on every page, and Swagger UI
// on /api/docs (served from here so that the page needs no CDN and keeps the portal's CSP).
const VENDORED: Record<string, string> = {
  'htmx.min.js': 'htmx.org/dist/htmx.min.js',
  'swagger-ui/swagger-ui-bundle.js': 'swagger-ui-dist/swagger-ui-bundle.js',
  'swagger-ui/swagger-ui.css': 'swagger-ui-dist/swagger-ui.css',
  'swagger-ui/favicon-32x32.png': 'swagger-ui-dist/favicon-32x32.png',
  'swagger-ui/LICENSE': 'swagger-ui-dist/LICENSE',
};

function copyVendored(): Plugin {
  return {
    name: 'imagehub-copy-vendored',
    apply: 'build',
    closeBundle() {
      for (const [target, source] of Object.entries(VENDORED)) {
        const path = resolve(staticDir, 'vendor', target);
        mkdirSync(dirname(path), { recursive: true });
        copyFileSync(resolve(here, 'node_modules', source), path);
      }
    },
  };
}

export default defineConfig({
  // Chunk, worker and wasm URLs are emitted relative to this base.
  base: '/static/viewer/',
  plugins: [copyVendored()],
  resolve: {
    alias: {
      // vtk.js's VTK-XML mesh readers (unused here) pull in xmlbuilder2, which needs Node's "events"
      // at module load; see src/shims/xmlbuilder2.ts.
      xmlbuilder2: resolve(here, 'src/shims/xmlbuilder2.ts'),
      // Cornerstone3D renders through vtk.js's OpenGL backend only; its profile imports also register
      // the WebGPU backend (~180 kB the browser would parse and run before the first image).
      '@kitware/vtk.js/Rendering/Profiles/Geometry.js': '@kitware/vtk.js/Rendering/OpenGL/Profiles/Geometry.js',
      '@kitware/vtk.js/Rendering/Profiles/Volume.js': '@kitware/vtk.js/Rendering/OpenGL/Profiles/Volume.js',
    },
  },
  // Dev-server only (we never run it in production), as Cornerstone3D's Vite guide advises:
  // the loader's worker and wasm codecs must not be pre-bundled.
  optimizeDeps: {
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser'],
  },
  worker: {
    // The dicom-image-loader creates its decode worker with { type: 'module' }.
    format: 'es',
    rolldownOptions: {
      onLog: quietExternalized,
      output: { entryFileNames: 'assets/[name]-[hash].js', chunkFileNames: 'assets/[name]-[hash].js' },
    },
  },
  build: {
    outDir: resolve(staticDir, 'viewer'),
    // .vite/manifest.json: the portal reads it to preload a page's viewer chunk with its HTML.
    manifest: true,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // One stylesheet with a stable name, linked by the templates (main.ts adds it if they do not).
    cssCodeSplit: false,
    // Cornerstone + vtk.js + NiiVue are large; they are lazy chunks, loaded only by pages with a viewer.
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      input: resolve(here, 'src/main.ts'),
      onLog: quietExternalized,
      // Rolldown's "plugins took 75% of the build" notice says nothing actionable for us.
      checks: { bundlerTimings: false },
      output: {
        format: 'es',
        entryFileNames: 'viewer.js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: (asset) =>
          asset.names.some((n) => n.endsWith('.css')) ? 'viewer.css' : 'assets/[name]-[hash][extname]',
      },
    },
  },
});
