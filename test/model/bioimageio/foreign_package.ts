/**
 * A bioimage.io 0.5 package as another toolkit would write it (not our exporter): a 3x3 conv of
 * known weights (`W`, `BIAS`) on `C` channels behind per-channel zero_mean_unit_variance, with a
 * halo of 1 and a sigmoid postprocessing, in the style of the spec's unet2d example.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { stringify } from 'yaml';
import { sha256 } from '../../../io/model_package.ts';
import { GraphBuilder } from '../../../model/onnx/graph.ts';

export const C = 3; // input channels = z-planes
export const EPS = 1e-6;
// Asymmetric weights [c][dy][dx], so a flipped, shifted or channel-swapped input gives other values.
export const W = Array.from({ length: C }, (_, c) => Array.from({ length: 3 }, (_, dy) => Array.from({ length: 3 }, (_, dx) => 0.05 * (c + 1) * (dy - 1) + 0.03 * (dx + 1) * (c === 1 ? -1 : 1) + (c === 2 && dy === 0 && dx === 2 ? 0.4 : 0))));
export const BIAS = 0.2;

/** The network as an ONNX file: Conv 3x3 with zero padding (same size; the package declares a halo of 1), input raw [b, C, y, x] -> output [b, 1, y, x]. */
export function onnxNetwork(): Uint8Array {
  const g = new GraphBuilder();
  const w = g.tensor('conv.weight', [1, C, 3, 3], Float32Array.from(W.flat(2)));
  const b = g.tensor('conv.bias', [1], Float32Array.of(BIAS));
  g.one('Conv', ['raw', w, b], 'conv', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'logits');
  return g.encode({ name: 'tiny_conv', inputs: [{ name: 'raw', dims: ['batch', C, 'y', 'x'] }], outputs: [{ name: 'logits', dims: ['batch', 1, 'y', 'x'] }] });
}

export type Yaml = Record<string, any>;

/** A bioimage.io 0.5 description of the network, in the style of the spec's example (other tools' conventions: halo, sigmoid postprocessing, rdf-like metadata). */
export function description(onnx: Uint8Array): Yaml {
  return {
    format_version: '0.5.4',
    type: 'model',
    name: 'Tiny conv nuclei',
    description: 'A 3x3 convolution standing in for a virtual-staining network of another toolkit.',
    authors: [{ name: 'Someone Else', affiliation: 'Another Lab' }],
    cite: [{ text: 'A paper', doi: '10.1000/xyz123' }],
    license: 'MIT',
    documentation: 'README.md',
    covers: ['cover.png'],
    tags: ['virtual-staining', '2d'],
    timestamp: '2024-01-02T03:04:05+00:00',
    inputs: [
      {
        id: 'raw',
        axes: [
          { type: 'batch' },
          { type: 'channel', channel_names: ['z0', 'z1', 'z2'] },
          { type: 'space', id: 'y', size: { min: 18, step: 4 } },
          { type: 'space', id: 'x', size: { min: 18, step: 4 } },
        ],
        test_tensor: { source: 'test_input.npy' },
        preprocessing: [
          { id: 'ensure_dtype', kwargs: { dtype: 'float32' } },
          { id: 'zero_mean_unit_variance', kwargs: { axes: ['x', 'y'], eps: EPS } },
        ],
      },
    ],
    outputs: [
      {
        id: 'nuclei',
        axes: [
          { type: 'batch' },
          { type: 'channel', channel_names: ['nuclei'] },
          { type: 'space', id: 'y', halo: 1, size: { tensor_id: 'raw', axis_id: 'y' } },
          { type: 'space', id: 'x', halo: 1, size: { tensor_id: 'raw', axis_id: 'x' } },
        ],
        test_tensor: { source: 'test_output.npy' },
        postprocessing: [{ id: 'sigmoid' }, { id: 'ensure_dtype', kwargs: { dtype: 'float32' } }],
      },
    ],
    weights: { onnx: { source: 'weights.onnx', sha256: sha256(onnx), opset_version: 17 } },
  };
}

/** Writes a package folder (or zip when `zip`) with `d` as its description. */
export function writePackage(path: string, d: Yaml | string, onnx: Uint8Array | undefined, zip = false): string {
  const files: Record<string, Uint8Array> = { 'bioimageio.yaml': new TextEncoder().encode(typeof d === 'string' ? d : stringify(d)), 'README.md': new TextEncoder().encode('# tiny\n') };
  if (onnx) files['weights.onnx'] = onnx;
  if (zip) writeFileSync(path, zipSync(files));
  else {
    mkdirSync(path, { recursive: true });
    for (const [n, b] of Object.entries(files)) writeFileSync(join(path, n), b);
  }
  return path;
}
