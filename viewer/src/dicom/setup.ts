// One-time Cornerstone3D initialisation shared by every DICOM viewer on the page.
import { RenderingEngine, getRenderingCapabilities, init as initCore, setUseCPURendering } from '@cornerstonejs/core';
import { init as initLoader } from '@cornerstonejs/dicom-image-loader';
import {
  LengthTool,
  PanTool,
  RectangleROITool,
  StackScrollTool,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as initTools,
} from '@cornerstonejs/tools';
import { purposeHeaders } from '../purpose';

export const RENDERING_ENGINE_ID = 'imagehub';

/** imageId -> X-Purpose-Of-Use value; the loader's options are global, the purpose is per viewer. */
const purposeByImageId = new Map<string, string>();

export function registerPurpose(imageIds: readonly string[], purpose: string | undefined): void {
  if (!purpose) return;
  for (const id of imageIds) purposeByImageId.set(id, purpose);
}

export function forgetPurpose(imageIds: readonly string[]): void {
  for (const id of imageIds) purposeByImageId.delete(id);
}

let engine: RenderingEngine | undefined;

/** Idempotent; the dicom-image-loader's init purges its metadata caches, so it must run only once. */
export function ensureCornerstone(): RenderingEngine {
  if (engine) return engine;
  // Without a real GPU (virtual desktops, remote sessions, headless CI) WebGL runs on a
  // software rasteriser, which starts and draws a 2D stack slower than Cornerstone's CPU path.
  initCore();
  if (getRenderingCapabilities().softwareRasterizer) setUseCPURendering(true);
  initLoader({
    // Decoding native (uncompressed) frames is cheap; a couple of workers is plenty.
    maxWebWorkers: Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2))),
    // Same-origin XHR sends the session cookie by default; only add the purpose header.
    beforeSend: (_xhr, imageId) => purposeHeaders(purposeByImageId.get(imageId)),
  });
  initTools();
  for (const tool of [StackScrollTool, WindowLevelTool, PanTool, ZoomTool, LengthTool, RectangleROITool]) {
    addTool(tool);
  }
  engine = new RenderingEngine(RENDERING_ENGINE_ID);
  return engine;
}
