// The first slice drawn straight from its frame, before the Cornerstone chunk has run.
// Evaluating that chunk costs a few hundred milliseconds of main-thread time; the frame and
// the series metadata are usually in well before, so the reader sees the image at once and
// the full viewer takes over (and hides this) when it renders. Grayscale frames only, which
// the server always sends uncompressed (explicit VR little endian); anything else is left to
// Cornerstone.
import { type DicomJsonInstance, Tag, getNumber, getString } from './dicomJson';
import type { HeadStart, PrefetchedFrame } from './headStart';
import { h } from '../ui/dom';

const Pixel = {
  SamplesPerPixel: '00280002',
  Photometric: '00280004',
  Rows: '00280010',
  Columns: '00280011',
  BitsAllocated: '00280100',
  PixelRepresentation: '00280103',
  RescaleIntercept: '00281052',
  RescaleSlope: '00281053',
} as const;

/** Draws the preview into the container's fallback; resolves false when it could not. */
export async function paintPreview(container: HTMLElement, head: HeadStart): Promise<boolean> {
  const [instances, frame] = await Promise.all([head.metadata, head.firstFrame]).catch(() => [[], undefined] as const);
  if (!frame) return false;
  const instance = instances.find((i) => frame.imageId.includes(`/instances/${getString(i, Tag.SOPInstanceUID)}/`));
  const image = instance ? grayscale(instance, frame) : undefined;
  const host = container.querySelector<HTMLElement>(':scope > .ih-fallback');
  if (!image || !host || container.dataset.state === 'ready') return false; // the viewer was quicker
  host.replaceChildren(image);
  container.dispatchEvent(new CustomEvent('ih-viewer-rendered', { detail: { preview: true }, bubbles: true }));
  return true;
}

function grayscale(instance: DicomJsonInstance, frame: PrefetchedFrame): HTMLCanvasElement | undefined {
  const rows = getNumber(instance, Pixel.Rows);
  const columns = getNumber(instance, Pixel.Columns);
  const bits = getNumber(instance, Pixel.BitsAllocated);
  const photometric = getString(instance, Pixel.Photometric) ?? '';
  if (!rows || !columns || (bits !== 8 && bits !== 16)) return undefined;
  if ((getNumber(instance, Pixel.SamplesPerPixel) ?? 1) !== 1 || !photometric.startsWith('MONOCHROME')) return undefined;
  const bytes = firstPart(frame);
  if (!bytes || bytes.byteLength < rows * columns * (bits / 8)) return undefined;
  const stored = samples(bytes, bits, getNumber(instance, Pixel.PixelRepresentation) === 1, rows * columns);
  const slope = getNumber(instance, Pixel.RescaleSlope) ?? 1;
  const intercept = getNumber(instance, Pixel.RescaleIntercept) ?? 0;
  const [center, width] = voiWindow(instance, stored, slope, intercept);
  const canvas = h('canvas', { class: 'ih-preview', width: columns, height: rows });
  const context = canvas.getContext('2d');
  if (!context) return undefined;
  const pixels = context.createImageData(columns, rows);
  const invert = photometric === 'MONOCHROME1';
  // PS3.3 C.11.2.1.2.1: linear VOI function.
  const low = center - 0.5 - (width - 1) / 2;
  const span = Math.max(width - 1, 1);
  for (let i = 0; i < stored.length; i += 1) {
    const value = stored[i]! * slope + intercept;
    let gray = value <= low ? 0 : value > low + span ? 255 : ((value - low) / span) * 255;
    if (invert) gray = 255 - gray;
    const at = i * 4;
    pixels.data[at] = pixels.data[at + 1] = pixels.data[at + 2] = gray;
    pixels.data[at + 3] = 255;
  }
  context.putImageData(pixels, 0, 0);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', 'First slice (the viewer is loading)');
  return canvas;
}

/** The window from the header (the first value, as the viewer uses), else the full range. */
function voiWindow(instance: DicomJsonInstance, stored: ArrayLike<number>, slope: number, intercept: number): [number, number] {
  const center = getNumber(instance, Tag.WindowCenter);
  const width = getNumber(instance, Tag.WindowWidth);
  if (center !== undefined && width !== undefined && width >= 1) return [center, width];
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < stored.length; i += 1) {
    const value = stored[i]! * slope + intercept;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return [(min + max) / 2, Math.max(max - min, 1)];
}

function samples(bytes: Uint8Array, bits: number, signed: boolean, count: number): ArrayLike<number> {
  if (bits === 8) return signed ? new Int8Array(bytes.buffer, bytes.byteOffset, count) : bytes.subarray(0, count);
  const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice(); // typed views need 2-byte alignment
  return signed
    ? new Int16Array(aligned.buffer, aligned.byteOffset, count)
    : new Uint16Array(aligned.buffer, aligned.byteOffset, count);
}

/** The body of the first part of a multipart/related response. */
function firstPart(frame: PrefetchedFrame): Uint8Array | undefined {
  const boundary = /boundary="?([^";]+)"?/i.exec(frame.contentType)?.[1];
  if (!boundary) return undefined;
  const body = new Uint8Array(frame.body);
  const delimiter = new TextEncoder().encode(`--${boundary}`);
  const start = indexOf(body, delimiter, 0);
  if (start < 0) return undefined;
  const headersEnd = indexOf(body, new TextEncoder().encode('\r\n\r\n'), start);
  const end = indexOf(body, new TextEncoder().encode(`\r\n--${boundary}`), headersEnd);
  if (headersEnd < 0 || end < 0) return undefined;
  const headers = new TextDecoder().decode(body.subarray(start, headersEnd)).toLowerCase();
  if (!headers.includes('transfer-syntax=1.2.840.10008.1.2.1') && !/transfer-syntax=1\.2\.840\.10008\.1\.2(?![.\d])/.test(headers)) {
    return undefined; // only uncompressed little endian is drawn here
  }
  return body.subarray(headersEnd + 4, end);
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = Math.max(from, 0); i <= haystack.length - needle.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
