// Viewers whose containers share data-sync="group" follow each other's slice, VOI and zoom/pan
// (the compare page's side-by-side before/after).
import { SynchronizerManager, synchronizers } from '@cornerstonejs/tools';
import { RENDERING_ENGINE_ID } from './setup';

type Synchronizer = NonNullable<ReturnType<typeof SynchronizerManager.getSynchronizer>>;

const FACTORIES: Record<string, (id: string) => Synchronizer> = {
  slice: (id) => synchronizers.createImageSliceSynchronizer(id),
  voi: (id) => synchronizers.createVOISynchronizer(id, { syncInvertState: true, syncColormap: false }),
  zoompan: (id) => synchronizers.createZoomPanSynchronizer(id),
};

export function joinSyncGroup(group: string, viewportId: string): () => void {
  const ref = { renderingEngineId: RENDERING_ENGINE_ID, viewportId };
  const joined: Synchronizer[] = [];
  for (const [kind, create] of Object.entries(FACTORIES)) {
    const id = `ih-sync-${kind}-${group}`;
    const sync = SynchronizerManager.getSynchronizer(id) ?? create(id);
    sync.add(ref);
    joined.push(sync);
  }
  return () => {
    for (const sync of joined) {
      sync.remove(ref);
      if (sync.getSourceViewports().length === 0) SynchronizerManager.destroySynchronizer(sync.id);
    }
  };
}
