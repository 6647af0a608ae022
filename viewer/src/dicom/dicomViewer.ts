// DICOM stack viewer widget (Cornerstone3D StackViewport) for <div data-ih-viewer="dicom">.
import { Enums, type Types, eventTarget, utilities } from '@cornerstonejs/core';
import { wadors } from '@cornerstonejs/dicom-image-loader';
import type { WADORSMetaData } from '@cornerstonejs/dicom-image-loader/types';
import { utilities as toolUtilities } from '@cornerstonejs/tools';
import { purposeHeaders } from '../purpose';
import type { DicomViewerHandle, PresetName } from '../types';
import { button, h, setPressed } from '../ui/dom';
import { emitRendered, errorMessage, hideFallback, setState, showError } from '../ui/state';
import type { HeadStart } from './headStart';
import { createMarkerLayer, fillPinForm, parseMarkers, pointAt } from './markers';
import { createOverlay } from './overlay';
import { PRESETS, isPresetName } from './presets';
import { type SeriesStack, buildStack, fetchSeriesMetadata } from './series';
import { ensureCornerstone, forgetImages, offerFrame, registerPurpose } from './setup';
import { joinSyncGroup } from './sync';
import { type LeftTool, type ViewerTools, createTools } from './tools';

const { Events, ViewportType } = Enums;

/** How long the first image may take: a frame the loader fails to decode inside its own
 * promise chain is reported nowhere, and the viewer would say "loading" for ever. */
const FIRST_RENDER_MS = 60_000;

function stalled(ms: number): Promise<never> {
  return new Promise((_, reject) => {
    setTimeout(
      () => reject(new Error(`the first image did not render within ${ms / 1000} s: its pixels may be in a form this viewer cannot draw`)),
      ms,
    );
  });
}

interface SliceWaiter {
  index: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * @param head the series metadata and first frame, already requested by the entry module while
 *   this chunk was loading (saves two round trips on first paint); fetched here when absent.
 */
export function mountDicom(container: HTMLElement, head?: HeadStart): DicomViewerHandle {
  const { wadoRoot, study, series, sync, purpose, pinForm } = container.dataset;
  const viewportId = `ih-vp-${container.id}`;

  // --- DOM: toolbar, stage (viewport + corner overlay), slice slider -------------------------
  const viewportEl = h('div', { class: 'ih-viewport', tabindex: 0, 'aria-label': 'DICOM image' });
  viewportEl.addEventListener('contextmenu', (e) => e.preventDefault()); // right drag zooms
  const overlay = createOverlay();
  const markers = createMarkerLayer(parseMarkers(container.dataset.markers));
  // Covers the image when the slice shown cannot be decoded, so that the previous slice does not
  // pass for it; lets the wheel through to the viewport, so scrolling goes on past it.
  const sliceError = h('p', { class: 'ih-slice-error', role: 'status', hidden: true });
  const stage = h('div', { class: 'ih-stage' }, [viewportEl, markers.element, sliceError, overlay.element]);
  const slider = h('input', { type: 'range', class: 'ih-slider', min: 0, max: 0, value: 0, step: 1, 'aria-label': 'Slice' });
  const sliceLabel = h('output', { class: 'ih-slice-label' }, ['–']);

  const toolButtons = new Map<LeftTool, HTMLButtonElement>();
  const addToolButton = (tool: LeftTool, label: string, title: string): HTMLButtonElement => {
    const b = button(label, title, () => selectTool(tool), 'ih-btn--tool');
    toolButtons.set(tool, b);
    return b;
  };
  // With data-pin-form, a click on the image while this is pressed fills that form's point.
  const pinButton = pinForm ? button('Pin comment', 'Click a point of the image to comment on it', () => togglePin()) : undefined;
  const presetButtons = (Object.keys(PRESETS) as PresetName[]).map((name) =>
    button(PRESETS[name].label, `W ${PRESETS[name].width} / L ${PRESETS[name].center}`, () => setPreset(name), 'ih-btn--preset'),
  );
  const toolbar = h('div', { class: 'ih-toolbar', role: 'toolbar', 'aria-label': 'Viewer tools' }, [
    h('div', { class: 'ih-group' }, [
      addToolButton('WindowLevel', 'W/L', 'Window/level on left drag'),
      addToolButton('Length', 'Length', 'Measure a distance'),
      addToolButton('RectangleROI', 'Rect ROI', 'Rectangle region statistics'),
      button('Reset', 'Reset zoom, pan and window/level', () => reset()),
      ...(pinButton ? [pinButton] : []),
    ]),
    h('div', { class: 'ih-group', 'aria-label': 'Window presets' }, presetButtons),
  ]);
  const sliderRow = h('div', { class: 'ih-slider-row' }, [slider, sliceLabel]);
  const widget = h('div', { class: 'ih-viewer ih-viewer--dicom' }, [toolbar, stage, sliderRow]);
  container.append(widget);
  setPressed(toolButtons.values(), toolButtons.get('WindowLevel'));

  // --- state -----------------------------------------------------------------------------------
  let viewport: Types.IStackViewport | undefined;
  let stack: SeriesStack | undefined;
  let tools: ViewerTools | undefined;
  let leaveSync: (() => void) | undefined;
  let resizeObserver: ResizeObserver | undefined;
  let destroyed = false;
  let rendered = false;
  let sliceFailed = false; // a slice shown failed to load (its message stands in for it)
  let pinning = false; // pin mode: a click on the image picks a point for a comment
  let resolveFirstRender: () => void = () => {};
  let rejectFirstRender: (error: Error) => void = () => {};
  const firstRender = new Promise<void>((resolve, reject) => {
    resolveFirstRender = resolve;
    rejectFirstRender = reject;
  });
  const waiters: SliceWaiter[] = [];

  const currentVOI = (): { center: number; width: number } | undefined => {
    const range = viewport?.getProperties().voiRange;
    if (!range) return undefined;
    const { windowCenter, windowWidth } = utilities.windowLevel.toWindowLevel(range.lower, range.upper);
    return { center: windowCenter, width: windowWidth };
  };

  /** Refreshes the data-* hooks, overlay and slider from the viewport. */
  const refresh = (): void => {
    if (!viewport || !stack) return;
    const index = viewport.getCurrentImageIdIndex();
    const voi = currentVOI();
    const total = stack.imageIds.length;
    container.dataset.sliceCount = String(total);
    container.dataset.sliceIndex = String(index);
    if (voi) container.dataset.voi = `${Math.round(voi.center)},${Math.round(voi.width)}`;
    markers.update(viewport, stack.imageIds);
    slider.value = String(index);
    sliceLabel.textContent = `${index + 1} / ${total}`;
    overlay.update({
      description: stack.description,
      modality: stack.modality,
      slice: index,
      total,
      center: voi?.center ?? 0,
      width: voi?.width ?? 0,
      zoom: viewport.getZoom() || 1, // undefined before the camera first settles
    });
  };

  /** The first slice is on screen, as an image or as the message why it cannot be. */
  const firstShown = (): void => {
    if (rendered) return;
    rendered = true;
    resolveFirstRender();
  };

  const settleWaiters = (index: number, error?: Error): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.index !== index) continue;
      const waiter = waiters.splice(i, 1)[0]!;
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  };

  const onRendered = (): void => {
    // Cornerstone also "renders" an empty viewport (e.g. when the first frame failed to load),
    // and the previous image again while the slice asked for is loading or failed to.
    const image = viewport?.getCornerstoneImage();
    if (!viewport || !stack || destroyed || !image) return;
    refresh();
    const index = viewport.getCurrentImageIdIndex();
    if (image.imageId !== stack.imageIds[index]) return;
    if (!sliceError.hidden) {
      delete container.dataset.error;
      sliceError.hidden = true;
    }
    firstShown();
    settleWaiters(index);
    emitRendered(container, { sliceIndex: index });
  };

  // The stack viewport swallows frame load failures (setStack still resolves) and reports them
  // on the global event target, so match them to this viewer by imageId.
  const onLoadError = (event: Event): void => {
    const detail = (event as CustomEvent<{ imageId?: unknown; error?: unknown }>).detail;
    if (!stack || destroyed || typeof detail?.imageId !== 'string') return;
    const index = stack.imageIds.indexOf(detail.imageId);
    if (index < 0) return;
    const error = new Error(`slice ${index + 1} could not be decoded: ${errorMessage(detail.error)}`);
    settleWaiters(index, error);
    // A background prefetch of another slice failing is not worth a message (it is retried
    // when that slice is shown); only the slice being displayed is.
    if (index !== viewport?.getCurrentImageIdIndex()) return;
    sliceFailed = true;
    if (stack.imageIds.length === 1) {
      rejectFirstRender(error); // nothing else to scroll to: the viewer has failed
      return;
    }
    container.dataset.error = error.message;
    sliceError.textContent = error.message;
    sliceError.hidden = false;
    refresh();
    firstShown();
    emitRendered(container, { sliceIndex: index, error: error.message });
  };
  eventTarget.addEventListener(Events.IMAGE_LOAD_ERROR, onLoadError);

  const ready = (async (): Promise<void> => {
    if (!wadoRoot || !study || !series) {
      throw new Error('data-wado-root, data-study and data-series are required');
    }
    const engine = ensureCornerstone();
    const ref = { root: wadoRoot, study, series };
    const instances = await (head?.metadata ?? fetchSeriesMetadata(ref, purposeHeaders(purpose)));
    if (destroyed) return;
    stack = buildStack(ref, instances);
    // The loader's metadata provider answers imagePlane/imagePixel/VOI queries from these records.
    // (Our DICOM JSON type allows absent Values, which the loader tolerates; its type does not.)
    stack.imageIds.forEach((imageId, i) => wadors.metaDataManager.add(imageId, stack!.instances[i] as WADORSMetaData));
    registerPurpose(stack.imageIds, purpose);
    slider.max = String(stack.imageIds.length - 1);
    sliderRow.hidden = stack.imageIds.length < 2;

    engine.enableElement({
      viewportId,
      type: ViewportType.STACK,
      element: viewportEl as HTMLDivElement,
      defaultOptions: { background: [0, 0, 0] },
    });
    viewport = engine.getViewport<Types.IStackViewport>(viewportId);
    viewportEl.addEventListener(Events.IMAGE_RENDERED, onRendered);
    viewportEl.addEventListener(Events.VOI_MODIFIED, refresh);
    viewportEl.addEventListener(Events.CAMERA_MODIFIED, refresh);
    tools = createTools(viewportId);
    if (sync) leaveSync = joinSyncGroup(sync, viewportId);
    // Keep the canvas matched to its box (page layout changes, window resizes).
    resizeObserver = new ResizeObserver(() => engine.resize(true, true));
    resizeObserver.observe(viewportEl);

    const firstFrame = await head?.firstFrame;
    if (destroyed) return;
    if (firstFrame) offerFrame(firstFrame);
    // A first slice that cannot be loaded rejects here too; onLoadError has shown why.
    await viewport.setStack(stack.imageIds, 0).catch((error: unknown) => {
      if (!sliceFailed) throw error;
    });
    viewport.render();
    await Promise.race([firstRender, stalled(FIRST_RENDER_MS)]);
    if (destroyed) return;
    hideFallback(container);
    setState(container, 'ready');
    // Load the slices around the current one in the background (after first paint, so the
    // first image is not competing for the connection), for smooth wheel scrolling.
    toolUtilities.stackContextPrefetch.enable(viewportEl);
  })();
  ready.catch((error: unknown) => {
    if (!destroyed) showError(container, error);
  });

  slider.addEventListener('input', () => void scrollTo(Number(slider.value)).catch(() => {}));
  viewportEl.addEventListener('click', (event) => {
    if (!pinning || !viewport || !stack || !series || !pinForm) return;
    const box = viewportEl.getBoundingClientRect();
    const point = pointAt(viewport, stack.imageIds, [event.clientX - box.left, event.clientY - box.top]);
    if (!point) return;
    markers.setPending(point);
    fillPinForm(pinForm, series, point);
    container.dispatchEvent(new CustomEvent('ih-viewer-pin', { detail: { series, ...point }, bubbles: true }));
  });

  // --- actions ---------------------------------------------------------------------------------
  function togglePin(): void {
    pinning = !pinning;
    if (pinButton) setPressed([pinButton], pinning ? pinButton : undefined);
    stage.classList.toggle('ih-stage--pinning', pinning);
  }

  function selectTool(tool: LeftTool): void {
    tools?.setLeftTool(tool);
    setPressed(toolButtons.values(), toolButtons.get(tool));
  }

  function setVOI(center: number, width: number): void {
    if (!(width > 0) || destroyed) return;
    if (!viewport || !rendered) {
      // Called before the first image: apply once it is on screen.
      void ready.then(() => setVOI(center, width), () => {});
      return;
    }
    // setProperties fires VOI_MODIFIED, which the VOI synchronizer relays to the group.
    viewport.setProperties({ voiRange: utilities.windowLevel.toLowHighRange(width, center) });
    viewport.render();
  }

  function setPreset(name: PresetName): void {
    if (!isPresetName(name)) throw new Error(`unknown preset ${String(name)}`);
    setVOI(PRESETS[name].center, PRESETS[name].width);
    setPressed(presetButtons, presetButtons[Object.keys(PRESETS).indexOf(name)]);
  }

  function reset(): void {
    if (!viewport) return;
    viewport.resetCamera();
    viewport.resetProperties();
    viewport.render();
    setPressed(presetButtons, undefined);
  }

  async function scrollTo(index: number): Promise<void> {
    await ready;
    if (!viewport || !stack) return;
    const target = Math.min(stack.imageIds.length - 1, Math.max(0, Math.round(index)));
    if (viewport.getCurrentImageIdIndex() === target && rendered) return;
    const done = new Promise<void>((resolve, reject) => waiters.push({ index: target, resolve, reject }));
    // A slice that fails rejects both; `done` with the reason onLoadError found, which the
    // viewport's own rejection (the bare request) only stands in for when that did not run.
    const shown = viewport.setImageIdIndex(target).catch((error: unknown) => settleWaiters(target, new Error(errorMessage(error))));
    await Promise.all([done, shown]);
  }

  return {
    kind: 'dicom',
    ready,
    scrollTo,
    setPreset,
    setVOI,
    sliceCount: () => stack?.imageIds.length ?? 0,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      eventTarget.removeEventListener(Events.IMAGE_LOAD_ERROR, onLoadError);
      resizeObserver?.disconnect();
      if (rendered) toolUtilities.stackContextPrefetch.disable(viewportEl);
      leaveSync?.();
      tools?.destroy();
      if (viewport) {
        try {
          ensureCornerstone().disableElement(viewportId);
        } catch {
          // element already gone with the swapped-out DOM; nothing left to release
        }
      }
      if (stack) forgetImages(stack.imageIds);
      for (const w of waiters.splice(0)) w.resolve();
    },
  };
}
