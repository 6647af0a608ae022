// Entry point (/static/viewer/viewer.js): finds viewer containers and mounts the widgets,
// on DOMContentLoaded and for every htmx:load (content swapped in by htmx).
// The heavy viewer code (Cornerstone3D, NiiVue) is loaded lazily, only for pages that use it.
import './style.css';
import { type HeadStart, startSeries } from './dicom/headStart';
import { paintPreview } from './dicom/preview';
import { purposeHeaders } from './purpose';
import type { DicomViewerHandle, NiftiViewerHandle, PresetName, ViewerHandle, ViewerKind } from './types';
import { setState, showError, wrapFallback } from './ui/state';

const SELECTOR = '[data-ih-viewer]';
const PREVIEW_WAIT_MS = 300; // longest the viewer waits for the preview before loading anyway
const registry: Record<string, ViewerHandle> = (window.imagehubViewers ??= {});
let autoId = 0;

ensureStylesheet();

function mountAll(root: ParentNode): void {
  const found = root instanceof Element && root.matches(SELECTOR) ? [root] : [];
  found.push(...Array.from(root.querySelectorAll(SELECTOR)));
  for (const el of found) if (el instanceof HTMLElement) mount(el);
}

function mount(container: HTMLElement): void {
  if (container.dataset.ihMounted) return;
  container.dataset.ihMounted = 'true';
  if (!container.id) container.id = `ih-viewer-${++autoId}`;
  registry[container.id]?.destroy(); // same id swapped in again: drop the stale one
  const kind = container.dataset.ihViewer as ViewerKind;
  wrapFallback(container);
  setState(container, 'loading');
  if (kind === 'dicom') registry[container.id] = lazyDicom(container);
  else if (kind === 'nifti') registry[container.id] = lazyNifti(container);
  else showError(container, `unknown viewer type "${String(kind)}"`);
}

/**
 * The handle exists synchronously (tests can grab window.imagehubViewers[id].ready at once);
 * calls made before the chunk has loaded are forwarded when it arrives.
 */
function lazyDicom(container: HTMLElement): DicomViewerHandle {
  let impl: DicomViewerHandle | undefined;
  let destroyed = false;
  const head = headStart(container);
  // Running the Cornerstone chunk holds the main thread for a few hundred milliseconds: draw
  // the first slice from its frame before that, unless the frame is slow to come.
  const preview = head ? paintPreview(container, head).catch(() => false) : Promise.resolve(false);
  const loaded = Promise.race([preview, delay(PREVIEW_WAIT_MS)])
    .then(() => import('./dicom/dicomViewer'))
    .then((m) => {
      impl = m.mountDicom(container, head);
      if (destroyed) impl.destroy();
      return impl;
    });
  return {
    kind: 'dicom',
    ready: guard(container, loaded.then((h) => h.ready)),
    scrollTo: async (index: number) => (await loaded).scrollTo(index),
    setPreset: (name: PresetName) => void loaded.then((h) => h.setPreset(name)),
    setVOI: (center: number, width: number) => void loaded.then((h) => h.setVOI(center, width)),
    sliceCount: () => impl?.sliceCount() ?? 0,
    destroy: () => {
      destroyed = true;
      impl?.destroy();
    },
  };
}

function lazyNifti(container: HTMLElement): NiftiViewerHandle {
  let impl: NiftiViewerHandle | undefined;
  let destroyed = false;
  const loaded = import('./nifti/niftiViewer').then((m) => {
    impl = m.mountNifti(container);
    if (destroyed) impl.destroy();
    return impl;
  });
  return {
    kind: 'nifti',
    ready: guard(container, loaded.then((h) => h.ready)),
    setColormap: (name: string) => void loaded.then((h) => h.setColormap(name)),
    setOverlayOpacity: (x: number) => void loaded.then((h) => h.setOverlayOpacity(x)),
    volumeCount: () => impl?.volumeCount() ?? 0,
    destroy: () => {
      destroyed = true;
      impl?.destroy();
    },
  };
}

/** Starts the metadata and first-frame requests in parallel with downloading/evaluating the DICOM chunk. */
function headStart(container: HTMLElement): HeadStart | undefined {
  const { wadoRoot: root, study, series, purpose } = container.dataset;
  if (!root || !study || !series) return undefined; // mountDicom reports the missing attributes
  return startSeries({ root, study, series }, purposeHeaders(purpose));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A chunk that fails to load (deploy skew, offline) must still end in data-state="error". */
function guard(container: HTMLElement, ready: Promise<void>): Promise<void> {
  ready.catch((error: unknown) => {
    if (container.dataset.state !== 'error') showError(container, error);
  });
  return ready;
}

/** Release viewers whose containers htmx is about to discard (GPU contexts are a scarce resource). */
function cleanup(root: Element): void {
  const els = root.matches(SELECTOR) ? [root] : [];
  els.push(...Array.from(root.querySelectorAll(SELECTOR)));
  for (const el of els) {
    const handle = registry[el.id];
    if (handle && el instanceof HTMLElement && el.dataset.ihMounted) {
      handle.destroy();
      delete registry[el.id];
    }
  }
}

/** Templates should <link> viewer.css; add it if they did not (href is relative to this module). */
function ensureStylesheet(): void {
  // (import.meta.url goes through a variable so Vite does not treat this as a build-time asset URL.)
  const moduleUrl = import.meta.url;
  const href = new URL('viewer.css', moduleUrl).href;
  const path = new URL(href).pathname; // templates link it with a ?v=<digest> of its content
  const linked = Array.from(document.querySelectorAll<HTMLLinkElement>('link[rel="stylesheet"]')).some(
    (l) => new URL(l.href).pathname === path,
  );
  if (!linked) document.head.append(Object.assign(document.createElement('link'), { rel: 'stylesheet', href }));
}

document.addEventListener('htmx:load', (event) => {
  if (event.target instanceof Element) mountAll(event.target);
});
document.addEventListener('htmx:beforeCleanupElement', (event) => {
  if (event.target instanceof Element) cleanup(event.target);
});
if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', () => mountAll(document), { once: true });
} else {
  mountAll(document);
}
