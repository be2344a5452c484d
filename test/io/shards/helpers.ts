/** Small synthetic canonical wells and shard metadata for the shard tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plane, type Plane, type Well } from '../../../core/image.ts';
import { rng } from '../../../core/random.ts';
import { SCHEMA_VERSION, type ShardMeta } from '../../../io/shards/schema.ts';

/**
 * A canonical well (values k / 65535 as read from 16-bit PNGs): random transmitted planes and
 * labels with a few bright blobs on a dark background.
 */
export function syntheticWell(name: string, opts: { width?: number; height?: number; depth?: number; labels?: readonly string[]; seed?: number } = {}): Well {
  const { width = 96, height = 80, depth = 3, labels = ['DAPI', 'MAP2'], seed = 1 } = opts;
  const r = rng(seed);
  const n = width * height;
  const stack = new Float32Array(n * depth);
  for (let i = 0; i < stack.length; i++) stack[i] = r.int(65536) / 65535;
  const map = new Map<string, Plane<'float32'>>();
  for (const label of labels) {
    const p = plane('float32', width, height);
    for (let i = 0; i < n; i++) p.data[i] = r.int(2000) / 65535;
    // Bright 5x5 spots: the foreground.
    for (let s = 0; s < 4; s++) {
      const cy = 2 + r.int(height - 4);
      const cx = 2 + r.int(width - 4);
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) p.data[(cy + dy) * width + cx + dx] = (50000 + r.int(15000)) / 65535;
    }
    map.set(label, p);
  }
  return { well: name, width, height, transmitted: { channel: 'PHASE_CONTRAST', stack: { width, height, depth, data: stack } }, labels: map };
}

export function testMeta(over: Partial<ShardMeta> = {}): ShardMeta {
  return {
    schema_version: SCHEMA_VERSION,
    labels: ['DAPI', 'MAP2'],
    patch_size: 16,
    z_count: 3,
    transmitted_channel: 'PHASE_CONTRAST',
    normalization: { method: 'none' },
    source: { dataset: 'synthetic' },
    split: { train: ['A1'], test: ['B2'] },
    seed: 7,
    ...over,
  };
}

/** A fresh temp folder, removed after the test. */
export async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'isl-shards-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
