import { mulberry32 } from '../../core/random.ts';
import type { PatchLike, PatchSource } from '../../model/trainer.ts';

/**
 * A PatchSource over patches held in memory: each epoch yields every patch once, in a seeded
 * Fisher-Yates order (seed 1000 + epoch), passed through `atEpoch` (default: unchanged).
 */
export function memoryPatchSource(
  patches: readonly PatchLike[],
  o: { patchSize: number; zCount: number; labels: readonly string[]; atEpoch?: (p: PatchLike, epoch: number) => PatchLike },
): PatchSource {
  return {
    patchSize: o.patchSize,
    zCount: o.zCount,
    labels: [...o.labels],
    epoch: async function* (e) {
      const order = patches.map((_, i) => i);
      const r = mulberry32(1000 + e);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (const i of order) yield o.atEpoch ? o.atEpoch(patches[i], e) : patches[i];
    },
  };
}
