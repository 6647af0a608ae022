// Series metadata retrieval, geometric slice ordering and per-frame imageId construction.
import { type DicomJsonInstance, Tag, getNumber, getNumbers, getString } from './dicomJson';

export interface SeriesRef {
  root: string;
  study: string;
  series: string;
}

export interface SeriesStack {
  imageIds: string[];
  /** The instance each imageId comes from (frames of one instance share it). */
  instances: DicomJsonInstance[];
  description: string;
  modality: string;
}

export async function fetchSeriesMetadata(ref: SeriesRef, headers: Record<string, string>): Promise<DicomJsonInstance[]> {
  const url = `${seriesUrl(ref)}/metadata`;
  const response = await fetch(url, {
    credentials: 'same-origin',
    headers: { Accept: 'application/dicom+json, application/json;q=0.9', ...headers },
  });
  if (!response.ok) throw new Error(`metadata request failed: HTTP ${response.status} ${response.statusText}`);
  const body: unknown = await response.json();
  if (!Array.isArray(body) || body.length === 0) throw new Error('the series has no instances');
  return body as DicomJsonInstance[];
}

export function seriesUrl({ root, study, series }: SeriesRef): string {
  return `${root.replace(/\/+$/, '')}/studies/${encodeURIComponent(study)}/series/${encodeURIComponent(series)}`;
}

/**
 * Orders instances along the slice normal (ImagePositionPatient projected on the normal of
 * ImageOrientationPatient) so scrolling moves through space; falls back to InstanceNumber when
 * any instance lacks geometry or the orientations differ (e.g. localizers mixed in).
 */
export function orderInstances(instances: DicomJsonInstance[]): DicomJsonInstance[] {
  const byNumber = (a: DicomJsonInstance, b: DicomJsonInstance): number =>
    (getNumber(a, Tag.InstanceNumber) ?? 0) - (getNumber(b, Tag.InstanceNumber) ?? 0);
  const first = getNumbers(instances[0]!, Tag.ImageOrientationPatient);
  const normal = first && first.length === 6 ? cross(first.slice(0, 3), first.slice(3, 6)) : undefined;
  const positions = instances.map((inst) => getNumbers(inst, Tag.ImagePositionPatient));
  const sameOrientation = instances.every((inst) => {
    const iop = getNumbers(inst, Tag.ImageOrientationPatient);
    return iop !== undefined && first !== undefined && iop.every((v, i) => Math.abs(v - first[i]!) < 1e-3);
  });
  if (!normal || !sameOrientation || positions.some((p) => !p || p.length !== 3)) {
    return [...instances].sort(byNumber);
  }
  const keyed = instances.map((inst, i) => ({ inst, d: dot(positions[i]!, normal) }));
  keyed.sort((a, b) => a.d - b.d || byNumber(a.inst, b.inst));
  return keyed.map((k) => k.inst);
}

/**
 * Drops a stored window that cannot be displayed (width <= 0, e.g. the 0/0 some MR scanners
 * write) so Cornerstone falls back to the pixel range instead of rendering a black image.
 */
export function sanitizeInstance(instance: DicomJsonInstance): DicomJsonInstance {
  const copy = withPaletteValues({ ...instance });
  const widths = getNumbers(copy, Tag.WindowWidth);
  const centers = getNumbers(copy, Tag.WindowCenter);
  if ((widths || centers) && !(widths && centers && widths.every((w) => w > 0))) {
    delete copy[Tag.WindowCenter];
    delete copy[Tag.WindowWidth];
    delete copy[Tag.WindowExplanation];
  }
  // Cornerstone's NM check reads Modality and stalls without it (secondary captures often
  // have none, nor an orientation): "OT", the standard's "other", is what it means.
  if (!getString(copy, Tag.Modality)) copy[Tag.Modality] = { vr: 'CS', Value: ['OT'] };
  return copy;
}

const PALETTES = [
  [Tag.RedPaletteDescriptor, Tag.RedPaletteData],
  [Tag.GreenPaletteDescriptor, Tag.GreenPaletteData],
  [Tag.BluePaletteDescriptor, Tag.BluePaletteData],
] as const;

/**
 * Palette colour tables arrive as InlineBinary (OW, little endian), which the loader's
 * metadata provider does not read: it takes `Value`. Entries are 16-bit words, or bytes
 * when the table is as many bytes long as it has entries.
 */
function withPaletteValues(instance: DicomJsonInstance): DicomJsonInstance {
  for (const [descriptorTag, dataTag] of PALETTES) {
    const inline = instance[dataTag]?.InlineBinary;
    if (!inline || instance[dataTag]?.Value) continue;
    const bytes = Uint8Array.from(atob(inline), (c) => c.charCodeAt(0));
    const entries = getNumber(instance, descriptorTag) || 65536;
    const words = new DataView(bytes.buffer);
    const values =
      bytes.length >= entries * 2
        ? Array.from({ length: entries }, (_, i) => words.getUint16(i * 2, true))
        : Array.from(bytes.subarray(0, entries));
    instance[dataTag] = { vr: 'OW', Value: values };
  }
  return instance;
}

/** One `wadors:` imageId per frame; multi-frame instances expand to frames 1..NumberOfFrames. */
export function buildStack(ref: SeriesRef, instances: DicomJsonInstance[]): SeriesStack {
  const base = seriesUrl(ref);
  const imageIds: string[] = [];
  const owners: DicomJsonInstance[] = [];
  for (const inst of orderInstances(instances.map(sanitizeInstance))) {
    const sop = getString(inst, Tag.SOPInstanceUID);
    if (!sop) continue;
    const frames = Math.max(1, Math.trunc(getNumber(inst, Tag.NumberOfFrames) ?? 1));
    for (let frame = 1; frame <= frames; frame++) {
      imageIds.push(`wadors:${base}/instances/${encodeURIComponent(sop)}/frames/${frame}`);
      owners.push(inst);
    }
  }
  if (imageIds.length === 0) throw new Error('no instance in the series has a SOPInstanceUID');
  const first = owners[0]!;
  return {
    imageIds,
    instances: owners,
    description: getString(first, Tag.SeriesDescription) ?? '',
    modality: getString(first, Tag.Modality) ?? '',
  };
}

function cross(a: number[], b: number[]): number[] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

function dot(a: number[], b: number[]): number {
  return a[0]! * b[0]! + a[1]! * b[1]! + a[2]! * b[2]!;
}
