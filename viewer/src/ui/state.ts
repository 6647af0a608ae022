// Container-level state shared by both widgets: data-* test hooks, fallback and error display.
import type { ViewerState } from '../types';
import { h } from './dom';

export const RENDERED_EVENT = 'ih-viewer-rendered';

export function setState(container: HTMLElement, state: ViewerState, error?: string): void {
  container.dataset.state = state;
  if (error) container.dataset.error = error;
  else delete container.dataset.error;
}

/**
 * Moves the server-rendered fallback children into one wrapper so they can be hidden
 * as a unit once an image has rendered (and stay visible if anything fails).
 */
export function wrapFallback(container: HTMLElement): HTMLElement {
  const existing = container.querySelector<HTMLElement>(':scope > .ih-fallback');
  if (existing) return existing;
  const wrapper = h('div', { class: 'ih-fallback' });
  wrapper.append(...Array.from(container.childNodes));
  container.append(wrapper);
  return wrapper;
}

export function hideFallback(container: HTMLElement): void {
  const wrapper = container.querySelector<HTMLElement>(':scope > .ih-fallback');
  if (wrapper) wrapper.hidden = true;
}

/** Error state: keep the fallback, show the message, hide the (useless) widget chrome. */
export function showError(container: HTMLElement, error: unknown): string {
  const message = errorMessage(error);
  setState(container, 'error', message);
  const wrapper = container.querySelector<HTMLElement>(':scope > .ih-fallback');
  if (wrapper) wrapper.hidden = false;
  container.querySelector<HTMLElement>(':scope > .ih-viewer')?.setAttribute('hidden', '');
  let box = container.querySelector<HTMLElement>(':scope > .ih-error');
  if (!box) {
    box = h('p', { class: 'ih-error', role: 'alert' });
    container.append(box);
  }
  box.textContent = `Viewer error: ${message}`;
  return message;
}

export function emitRendered(container: HTMLElement, detail: Record<string, unknown> = {}): void {
  container.dispatchEvent(new CustomEvent(RENDERED_EVENT, { detail, bubbles: true }));
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  // The DICOM loader rejects with the XMLHttpRequest itself.
  if (typeof XMLHttpRequest !== 'undefined' && error instanceof XMLHttpRequest) {
    const reason = serverReason(error);
    if (reason) return reason;
    const url = error.responseURL ? new URL(error.responseURL).pathname : 'an image request';
    return error.status ? `HTTP ${error.status} ${error.statusText} for ${url}` : `network error for ${url}`;
  }
  // e.g. an <img>/script load failure surfacing as a bare 'error' Event.
  if (typeof Event !== 'undefined' && error instanceof Event) {
    const target = error.target instanceof Element ? ` on <${error.target.tagName.toLowerCase()}>` : '';
    return `${error.type} event${target} (resource blocked or unreachable)`;
  }
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}

/** The `detail` our API puts in an error's JSON body (the loader asks for bytes, so it comes as
 * an ArrayBuffer): "cannot decode pixels of …" says more than "HTTP 422". */
function serverReason(xhr: XMLHttpRequest): string | undefined {
  const body: unknown = xhr.response;
  const text = body instanceof ArrayBuffer ? new TextDecoder().decode(body) : typeof body === 'string' ? body : '';
  try {
    const detail: unknown = (JSON.parse(text) as { detail?: unknown }).detail;
    return typeof detail === 'string' && detail ? detail : undefined;
  } catch {
    return undefined; // not our JSON (a proxy's HTML page, an empty body)
  }
}
