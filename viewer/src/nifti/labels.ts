// Discrete lookup table for label-map overlays (0 = background stays transparent).
import type { NVImage } from '@niivue/niivue';

// Distinct, saturated colours for the first labels (ITK-SNAP's defaults); later labels cycle hues.
const BASE: [number, number, number][] = [
  [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255],
  [255, 239, 213], [0, 0, 205], [205, 133, 63], [210, 180, 140], [102, 205, 170], [0, 0, 128],
  [0, 139, 139], [46, 139, 87], [255, 228, 225], [106, 90, 205], [221, 160, 221], [233, 150, 122],
];

/**
 * NiiVue keeps its own label tables ($itksnap, …) private, so we build one: labels 0..max
 * (max from the data, capped at 255) each get a fixed colour, 0 is transparent.
 */
export function applyLabelColormap(volume: NVImage): void {
  const max = Math.max(1, Math.min(255, Math.ceil(volume.global_max ?? volume.cal_max ?? 255)));
  const R: number[] = [0];
  const G: number[] = [0];
  const B: number[] = [0];
  const A: number[] = [0];
  const I: number[] = [0];
  for (let label = 1; label <= max; label++) {
    const [r, g, b] = label <= BASE.length ? BASE[label - 1]! : hueColour(label);
    R.push(r);
    G.push(g);
    B.push(b);
    A.push(255);
    I.push(label);
  }
  volume.setColormapLabel({ R, G, B, A, I, labels: I.map(String) });
}

function hueColour(label: number): [number, number, number] {
  // Golden-ratio hue steps keep neighbouring labels apart.
  const h = (label * 0.618033988749895) % 1;
  const f = (n: number): number => {
    const k = (n + h * 6) % 6;
    return Math.round(255 * (1 - Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [f(5), f(3), f(1)];
}

/** Continuous colormaps for the base image, common ones first. */
export function colormapChoices(available: readonly string[]): string[] {
  const preferred = ['gray', 'hot', 'winter', 'plasma', 'viridis', 'inferno', 'magma', 'bone', 'jet'];
  const usable = available.filter((name) => !name.startsWith('$'));
  return [...preferred.filter((n) => usable.includes(n)), ...usable.filter((n) => !preferred.includes(n)).sort()];
}
