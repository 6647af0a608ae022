// One-time Cornerstone3D initialisation shared by every DICOM viewer on the page.
import {
  Enums,
  RenderingEngine,
  getRenderingCapabilities,
  init as initCore,
  metaData,
  setUseCPURendering,
} from '@cornerstonejs/core';
import { init as initLoader } from '@cornerstonejs/dicom-image-loader';
import extractMultipart from '@cornerstonejs/dicom-image-loader/wadors/extractMultipart';
import { getTransferSyntaxForContentType } from '@cornerstonejs/dicom-image-loader/wadors/loadImage';
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
import type { PrefetchedFrame } from './headStart';

export const RENDERING_ENGINE_ID = 'imagehub';

/** imageId -> X-Purpose-Of-Use value; the loader's options are global, the purpose is per viewer. */
const purposeByImageId = new Map<string, string>();

export function registerPurpose(imageIds: readonly string[], purpose: string | undefined): void {
  if (!purpose) return;
  for (const id of imageIds) purposeByImageId.set(id, purpose);
}

/**
 * Frames fetched before Cornerstone was loaded (see headStart.ts), by imageId. The WADO-RS loader
 * asks the metadata providers for a frame's "compressed frame data" before going to the network,
 * so a frame offered here is decoded from these bytes instead of being requested again.
 */
const offeredFrames = new Map<string, { pixelData: Uint8Array; transferSyntaxUid: string }>();

export function offerFrame(frame: PrefetchedFrame): void {
  const part = extractMultipart(frame.contentType, new Uint8Array(frame.body));
  const pixelData = part.pixelData instanceof Uint8Array ? part.pixelData : new Uint8Array(part.pixelData);
  offeredFrames.set(frame.imageId, { pixelData, transferSyntaxUid: getTransferSyntaxForContentType(part.contentType) });
}

/** Taken once: later loads of the same image (after a cache eviction) go to the server. */
function offeredFrameProvider(type: string, imageId: string): unknown {
  if (type !== Enums.MetadataModules.COMPRESSED_FRAME_DATA) return undefined;
  const frame = offeredFrames.get(imageId);
  offeredFrames.delete(imageId);
  return frame;
}

/** Drops what this module keeps per image for a viewer that goes away. */
export function forgetImages(imageIds: readonly string[]): void {
  for (const id of imageIds) {
    purposeByImageId.delete(id);
    offeredFrames.delete(id);
  }
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
  metaData.addProvider(offeredFrameProvider, 10_000);
  initTools();
  for (const tool of [StackScrollTool, WindowLevelTool, PanTool, ZoomTool, LengthTool, RectangleROITool]) {
    addTool(tool);
  }
  engine = new RenderingEngine(RENDERING_ENGINE_ID);
  return engine;
}
