// Public shape of the widgets' test hooks: `window.imagehubViewers[id]`.

export type ViewerKind = 'dicom' | 'nifti';
export type ViewerState = 'loading' | 'ready' | 'error';
export type PresetName = 'soft-tissue' | 'lung' | 'bone' | 'brain';

interface BaseViewerHandle {
  readonly kind: ViewerKind;
  /** Resolves once the first image has rendered; rejects if loading failed. */
  readonly ready: Promise<void>;
  /** Releases GPU/tool/sync resources; called when htmx removes the container. */
  destroy(): void;
}

export interface DicomViewerHandle extends BaseViewerHandle {
  readonly kind: 'dicom';
  /** Resolves after the slice at `index` (0-based, clamped) has rendered. */
  scrollTo(index: number): Promise<void>;
  setPreset(name: PresetName): void;
  setVOI(center: number, width: number): void;
  sliceCount(): number;
}

export interface NiftiViewerHandle extends BaseViewerHandle {
  readonly kind: 'nifti';
  setColormap(name: string): void;
  setOverlayOpacity(opacity: number): void;
  volumeCount(): number;
}

export type ViewerHandle = DicomViewerHandle | NiftiViewerHandle;

declare global {
  interface Window {
    imagehubViewers: Record<string, ViewerHandle>;
  }
}
