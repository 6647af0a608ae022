// Window/level presets (center/width in modality units, HU for CT).
import type { PresetName } from '../types';

export interface Preset {
  label: string;
  center: number;
  width: number;
}

export const PRESETS: Record<PresetName, Preset> = {
  'soft-tissue': { label: 'Soft tissue', center: 40, width: 400 },
  lung: { label: 'Lung', center: -600, width: 1500 },
  bone: { label: 'Bone', center: 400, width: 1800 },
  brain: { label: 'Brain', center: 40, width: 80 },
};

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}
