/** A 3-plane brightfield well without labels, smooth plus seeded noise: input for predict tests. */
import { plane, zStack, type Well } from '../../core/image.ts';
import { mulberry32 } from '../../core/random.ts';

export function syntheticWell(name: string, w: number, h: number, seed: number): Well {
  const u = mulberry32(seed);
  const planes = Array.from({ length: 3 }, (_, z) => plane('float32', w, h, Float32Array.from({ length: w * h }, (_, i) => 0.5 + 0.3 * Math.sin((i % w) / 4 + z) * Math.cos(Math.floor(i / w) / 5) + 0.1 * u())));
  return { well: name, width: w, height: h, transmitted: { channel: 'BRIGHTFIELD', stack: zStack(planes) }, labels: new Map() };
}
