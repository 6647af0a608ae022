// Review markers over a DICOM stack: comments pinned to (slice, x, y), drawn only on their slice and
// kept on their pixel through zoom, pan and resizes; and the "pin" mode that turns a click on the
// image into those coordinates for the page's comment form.
import { type Types, utilities } from '@cornerstonejs/core';
import { h } from '../ui/dom';

/** One pinned comment: a 0-based slice of the stack and image coordinates (column x, row y) in pixels. */
export interface Marker {
  id: string;
  slice: number;
  x: number;
  y: number;
  label: string;
  href?: string;
}

export interface PinnedPoint {
  slice: number;
  x: number;
  y: number;
}

export interface MarkerLayer {
  element: HTMLElement;
  /** Shows the markers of the current slice at their canvas position; hides the others. */
  update(viewport: Types.IStackViewport, imageIds: string[]): void;
  /** The point just picked in pin mode, drawn until the page reloads with the saved comment. */
  setPending(point: PinnedPoint | undefined): void;
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** `data-markers` JSON (a list of {id, slice, x, y, label, href?}); malformed entries are dropped. */
export function parseMarkers(raw: string | undefined): Marker[] {
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.flatMap((item: Record<string, unknown>) =>
    item && isNumber(item.slice) && isNumber(item.x) && isNumber(item.y)
      ? [{
          id: String(item.id ?? ''),
          slice: item.slice,
          x: item.x,
          y: item.y,
          label: String(item.label ?? ''),
          href: typeof item.href === 'string' ? item.href : undefined,
        }]
      : [],
  );
}

export function createMarkerLayer(markers: Marker[]): MarkerLayer {
  const nodes = markers.map((m, i) => {
    const attrs = { class: 'ih-marker', 'data-comment': m.id, 'data-slice': m.slice, title: m.label, hidden: true };
    const node = m.href ? h('a', { ...attrs, href: m.href }, [String(i + 1)]) : h('span', attrs, [String(i + 1)]);
    return { marker: m, node };
  });
  const pendingNode = h('span', { class: 'ih-marker ih-marker--pending', title: 'New comment here', hidden: true }, ['+']);
  const element = h('div', { class: 'ih-markers' }, [...nodes.map((n) => n.node), pendingNode]);
  let pending: PinnedPoint | undefined;
  let last: { viewport: Types.IStackViewport; imageIds: string[] } | undefined;

  const place = (node: HTMLElement, point: PinnedPoint, viewport: Types.IStackViewport, imageIds: string[]): void => {
    const imageId = imageIds[point.slice];
    const onSlice = imageId !== undefined && viewport.getCurrentImageIdIndex() === point.slice;
    const world = onSlice ? utilities.imageToWorldCoords(imageId, [point.x, point.y]) : undefined;
    if (!world) {
      node.hidden = true;
      return;
    }
    const [left, top] = viewport.worldToCanvas(world);
    node.style.left = `${left}px`;
    node.style.top = `${top}px`;
    node.hidden = false;
  };

  const update = (viewport: Types.IStackViewport, imageIds: string[]): void => {
    last = { viewport, imageIds };
    for (const { marker, node } of nodes) place(node, marker, viewport, imageIds);
    if (pending) place(pendingNode, pending, viewport, imageIds);
    else pendingNode.hidden = true;
  };

  return {
    element,
    update,
    setPending(point) {
      pending = point;
      if (last) update(last.viewport, last.imageIds);
    },
  };
}

/** The image point under a click, or nothing when the click is outside the image. */
export function pointAt(viewport: Types.IStackViewport, imageIds: string[], canvas: Types.Point2): PinnedPoint | undefined {
  const slice = viewport.getCurrentImageIdIndex();
  const imageId = imageIds[slice];
  const image = viewport.getCornerstoneImage();
  if (imageId === undefined || !image) return undefined;
  const found = utilities.worldToImageCoords(imageId, viewport.canvasToWorld(canvas));
  if (!found) return undefined;
  const [x, y] = found.map((v) => Math.round(v * 10) / 10) as [number, number];
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return undefined;
  return { slice, x, y };
}

/** Fills the named form's `series`, `slice`, `x` and `y` fields and moves the focus to its text box. */
export function fillPinForm(formId: string, series: string, point: PinnedPoint): void {
  const form = document.getElementById(formId);
  if (!(form instanceof HTMLFormElement)) return;
  const values: Record<string, string> = { series, slice: String(point.slice), x: String(point.x), y: String(point.y) };
  for (const [name, value] of Object.entries(values)) {
    const field = form.elements.namedItem(name);
    if (field instanceof HTMLInputElement) field.value = value;
  }
  form.querySelector('textarea')?.focus();
}
