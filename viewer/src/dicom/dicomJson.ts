// Minimal typed access to the DICOM JSON model (PS3.18 F.2) returned by WADO-RS /metadata.

export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}

export type DicomJsonInstance = Record<string, DicomJsonAttribute>;

export const Tag = {
  SOPInstanceUID: '00080018',
  Modality: '00080060',
  SeriesDescription: '0008103E',
  InstanceNumber: '00200013',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  NumberOfFrames: '00280008',
  WindowCenter: '00281050',
  WindowWidth: '00281051',
  WindowExplanation: '00281055',
  RedPaletteDescriptor: '00281101',
  GreenPaletteDescriptor: '00281102',
  BluePaletteDescriptor: '00281103',
  RedPaletteData: '00281201',
  GreenPaletteData: '00281202',
  BluePaletteData: '00281203',
} as const;

function values(instance: DicomJsonInstance, tag: string): unknown[] | undefined {
  const value = instance[tag]?.Value;
  return Array.isArray(value) && value.length > 0 ? value : undefined;
}

export function getString(instance: DicomJsonInstance, tag: string): string | undefined {
  const first = values(instance, tag)?.[0];
  return typeof first === 'string' ? first : typeof first === 'number' ? String(first) : undefined;
}

/** Numbers may arrive as JSON numbers or (IS/DS) strings. */
export function getNumbers(instance: DicomJsonInstance, tag: string): number[] | undefined {
  const raw = values(instance, tag);
  if (!raw) return undefined;
  const out = raw.map((v) => (typeof v === 'number' ? v : typeof v === 'string' ? Number.parseFloat(v) : Number.NaN));
  return out.every(Number.isFinite) ? out : undefined;
}

export function getNumber(instance: DicomJsonInstance, tag: string): number | undefined {
  return getNumbers(instance, tag)?.[0];
}
