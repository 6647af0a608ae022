// Corner text over the image: series/modality, slice position, W/L and zoom.
import { h } from '../ui/dom';

export interface OverlayInfo {
  description: string;
  modality: string;
  slice: number; // 0-based
  total: number;
  center: number;
  width: number;
  zoom: number;
}

export interface Overlay {
  element: HTMLElement;
  update(info: OverlayInfo): void;
}

export function createOverlay(): Overlay {
  const tl = h('div', { class: 'ih-corner ih-corner--tl' });
  const tr = h('div', { class: 'ih-corner ih-corner--tr' });
  const bl = h('div', { class: 'ih-corner ih-corner--bl' });
  const br = h('div', { class: 'ih-corner ih-corner--br' });
  const element = h('div', { class: 'ih-overlay', 'aria-hidden': 'true' }, [tl, tr, bl, br]);
  return {
    element,
    update(info) {
      tl.replaceChildren(line(info.description || '(no description)'), line(info.modality));
      tr.replaceChildren(line(`Slice ${info.slice + 1}/${info.total}`));
      bl.replaceChildren(line(`W ${Math.round(info.width)} L ${Math.round(info.center)}`));
      br.replaceChildren(line(`Zoom ${info.zoom.toFixed(2)}×`));
    },
  };
}

function line(text: string): HTMLElement {
  return h('div', {}, [text]);
}
