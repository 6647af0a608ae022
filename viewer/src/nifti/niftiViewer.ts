// NIfTI viewer widget (NiiVue, WebGL2) for <div data-ih-viewer="nifti">.
import { Niivue, type NiiVueLocation, SLICE_TYPE } from '@niivue/niivue';
import { purposeHeaders } from '../purpose';
import type { NiftiViewerHandle } from '../types';
import { button, h, setPressed } from '../ui/dom';
import { emitRendered, errorMessage, hideFallback, setState, showError } from '../ui/state';
import { applyLabelColormap, colormapChoices } from './labels';

type ImageFromUrlOptions = Parameters<Niivue['loadVolumes']>[0][number];

const VIEWS: [SLICE_TYPE, string][] = [
  [SLICE_TYPE.AXIAL, 'Axial'],
  [SLICE_TYPE.CORONAL, 'Coronal'],
  [SLICE_TYPE.SAGITTAL, 'Sagittal'],
  [SLICE_TYPE.MULTIPLANAR, 'Multiplanar'],
  [SLICE_TYPE.RENDER, '3D'],
];

export function mountNifti(container: HTMLElement): NiftiViewerHandle {
  const { volumeUrl, volumeName, overlayUrl, overlayName, purpose } = container.dataset;
  const headers = purposeHeaders(purpose);

  // --- DOM ---------------------------------------------------------------------------------------
  const canvas = h('canvas', { class: 'ih-canvas', 'aria-label': 'NIfTI volume' });
  const stage = h('div', { class: 'ih-stage' }, [canvas]);
  const viewButtons = new Map<SLICE_TYPE, HTMLButtonElement>();
  for (const [type, label] of VIEWS) {
    viewButtons.set(type, button(label, `${label} view`, () => setView(type), 'ih-btn--view'));
  }
  const colormapSelect = h('select', { class: 'ih-select', 'aria-label': 'Colormap' });
  colormapSelect.addEventListener('change', () => setColormap(colormapSelect.value));
  const opacity = h('input', { type: 'range', class: 'ih-opacity', min: 0, max: 1, step: 0.05, value: 0.5, 'aria-label': 'Overlay opacity' });
  opacity.addEventListener('input', () => setOverlayOpacity(Number(opacity.value)));
  const opacityLabel = h('label', { class: 'ih-field', hidden: !overlayUrl }, ['Overlay ', opacity]);
  const readout = h('output', { class: 'ih-readout', 'aria-live': 'off' }, ['\u00a0']);
  const toolbar = h('div', { class: 'ih-toolbar', role: 'toolbar', 'aria-label': 'Viewer tools' }, [
    h('div', { class: 'ih-group' }, [...viewButtons.values()]),
    h('div', { class: 'ih-group' }, [h('label', { class: 'ih-field' }, ['Colormap ', colormapSelect]), opacityLabel]),
  ]);
  const widget = h('div', { class: 'ih-viewer ih-viewer--nifti' }, [toolbar, stage, readout]);
  container.append(widget);

  // --- NiiVue ------------------------------------------------------------------------------------
  const nv = new Niivue({
    backColor: [0, 0, 0, 1],
    show3Dcrosshair: true,
    // Default width is one voxel, which is a thick bar on low-resolution volumes.
    crosshairWidth: 0.5,
    crosshairWidthUnit: 'percent',
    isResizeCanvas: true, // canvas follows the .ih-stage box
    dragAndDropEnabled: false,
    loadingText: '',
    logLevel: 'warn',
  });
  nv.onLocationChange = (location: unknown) => {
    const text = describeLocation(location as Partial<NiiVueLocation> | undefined);
    if (text) readout.textContent = text;
  };
  let destroyed = false;
  let attached = false; // NiiVue calls before attachToCanvas would touch a missing GL context

  const rendered = (): void => {
    // NiiVue draws synchronously; wait a frame so the hook fires after compositing.
    requestAnimationFrame(() => {
      if (!destroyed) emitRendered(container, { volumes: nv.volumes.length });
    });
  };

  const ready = (async (): Promise<void> => {
    if (!volumeUrl) throw new Error('data-volume-url is required');
    await nv.attachToCanvas(canvas);
    attached = true;
    const list: ImageFromUrlOptions[] = [{ url: volumeUrl, name: volumeName || guessName(volumeUrl), headers }];
    if (overlayUrl) {
      list.push({ url: overlayUrl, name: overlayName || guessName(overlayUrl), headers, opacity: Number(opacity.value) });
    }
    try {
      await nv.loadVolumes(list);
    } catch (error) {
      // NiiVue throws the bare HTTP status text ("Not Found"); say what failed.
      throw new Error(`could not load ${list.map((v) => v.name).join(' + ')}: ${errorMessage(error)}`);
    }
    if (destroyed) return;
    if (nv.volumes.length === 0) throw new Error('no volume could be loaded');
    if (overlayUrl) {
      const overlayVolume = nv.volumes[1];
      if (!overlayVolume) throw new Error('the overlay could not be loaded');
      applyLabelColormap(overlayVolume);
      nv.updateGLVolume();
    }
    const choices = colormapChoices(nv.colormaps());
    const current = nv.volumes[0]!.colormap || 'gray';
    colormapSelect.replaceChildren(...choices.map((name) => h('option', { value: name, selected: name === current }, [name])));
    setView(SLICE_TYPE.MULTIPLANAR);
    hideFallback(container);
    setState(container, 'ready');
    rendered();
  })();
  ready.catch((error: unknown) => {
    if (!destroyed) showError(container, error);
  });

  function setView(type: SLICE_TYPE): void {
    if (!attached) {
      void ready.then(() => setView(type), () => {});
      return;
    }
    nv.setSliceType(type);
    setPressed(viewButtons.values(), viewButtons.get(type));
    rendered();
  }

  function setColormap(name: string): void {
    if (!nv.colormaps().includes(name)) throw new Error(`unknown colormap ${name}`);
    const base = nv.volumes[0];
    if (!base || container.dataset.state !== 'ready') {
      void ready.then(() => setColormap(name), () => {}); // before load: apply afterwards
      return;
    }
    nv.setColormap(base.id, name);
    colormapSelect.value = name;
    rendered();
  }

  function setOverlayOpacity(value: number): void {
    if (!overlayUrl) return;
    if (nv.volumes.length < 2 || container.dataset.state !== 'ready') {
      void ready.then(() => setOverlayOpacity(value), () => {});
      return;
    }
    const clamped = Math.min(1, Math.max(0, value));
    nv.setOpacity(1, clamped);
    opacity.value = String(clamped);
    rendered();
  }

  return {
    kind: 'nifti',
    ready,
    setColormap,
    setOverlayOpacity,
    volumeCount: () => nv.volumes.length,
    destroy() {
      destroyed = true;
      // Free the WebGL context promptly: browsers cap live contexts per page.
      try {
        nv.gl.getExtension('WEBGL_lose_context')?.loseContext();
      } catch {
        // never attached (no WebGL2): nothing to release
      }
    },
  };
}

/** "x, y, z mm · anat.nii.gz 412 · labels.nii.gz 3" from NiiVue's location callback. */
function describeLocation(location: Partial<NiiVueLocation> | undefined): string {
  if (!location?.mm) return '';
  const mm = Array.from(location.mm).slice(0, 3).map((v) => v.toFixed(1));
  const values = (location.values ?? []).map((v) => `${v.name} ${formatValue(v.value)}`);
  return [`${mm.join(', ')} mm`, ...values].join(' · ');
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

/** NiiVue picks the reader from the file extension; URLs with query strings hide it. */
function guessName(url: string): string {
  const path = new URL(url, document.baseURI).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1)) || 'volume.nii.gz';
}
