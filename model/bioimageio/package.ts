/**
 * Builds a bioimage.io model package (format 0.5) of a trained ISL network, for the bioimage.io
 * Model Zoo, deepImageJ, ilastik, QuPath and bioimageio.core:
 *
 *   bioimageio.yaml          the description (inputs, outputs, preprocessing, weights, citation)
 *   weights.onnx             the graph `predict` runs (statistics in-graph) behind a z-slot input
 *   test_input.npy           a real crop of a sample well, `[1, zSlots, S, S]` float32
 *   test_output_<id>.npy     our inference on it, one file per output `[1, 1, S - 2m, S - 2m]`
 *   cover.png                transmitted light | predicted label (mean) on the sample (2:1)
 *   README.md                documentation, with a Validation section
 *
 * The input is the z-slots alone (slot s holds plane floor(s * depth / zSlots) of a stack), with
 * the preprocessing our `preprocess` applies declared: zero mean / unit variance over the whole
 * stack, then x 0.125 + 0.5 and clipping to [0, 1] (canonical transmitted light). Spatial sizes
 * are the network's fully convolutional ones: `min + k * step`; each output is the input minus
 * the receptive-field margin on every side (a size offset, not a halo: the network crops itself).
 */
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { dump } from 'npyjs';
import { badInput, badOption, IslError } from '../../core/errors.ts';
import { stackPlane, type Well } from '../../core/image.ts';
import { sha256 } from '../../io/model_package.ts';
import { applyPreprocessing, type SampleTensor } from '../../transforms/preprocessing.ts';
import { exportOnnx, onnxOutputName, OPSET } from '../onnx/export.ts';
import { closeInferenceModel, createInferenceModel, predictStack, slotPlanes, STATISTICS, type Statistic } from '../onnx/infer.ts';
import { buildPlan, outputStride, type ModelConfig } from '../plan.ts';
import { FORMAT_VERSION, PAPER, preprocessingSteps, type ModelDescription, type TensorDescription } from './description.ts';
import { withSlotInput } from './onnx_graph.ts';

/** Defaults of {@link ModelPackageOptions}, declared once (the export CLI shows the same). */
export const PACKAGE_DEFAULTS = Object.freeze({
  /** All statistics per label. */
  statistics: STATISTICS,
  /** The paper code's licence. */
  license: 'Apache-2.0',
  authors: Object.freeze([{ name: 'insilico-labeling contributors' }]),
});

/** Id of the package's input tensor. */
export const INPUT_ID = 'transmitted';
/** Smallest network output of the test tensors, px per side (when the sample is large enough). */
const TEST_OUTPUT_PX = 32;
/** Side of the sample crop the cover shows, px. */
const COVER_PX = 256;

/** What `config.isl` of an ISL package records, so `predict` reads the package back as ours. */
export interface IslPackageConfig {
  version: 1;
  network: ModelConfig;
  outputs: { id: string; label: string; statistic: Statistic }[];
  /** The declared preprocessing is what `preprocess` applies: canonical wells already carry it. */
  canonicalInput: true;
}

/** Options of {@link buildModelPackage}. */
export interface ModelPackageOptions {
  /** A real canonical well (e.g. from `preprocess`): the test tensors and the cover come from it. */
  sample: Well;
  /** Where the sample came from, for error messages and the README. */
  sampleSource: string;
  /** Statistics to output per label (default all: median, mean, mode, std, entropy). */
  statistics?: readonly Statistic[];
  /** Authors of the package (default: the insilico-labeling contributors). */
  authors?: ModelDescription['authors'];
  /** SPDX licence of the weights (default Apache-2.0, the paper code's licence). */
  license?: string;
  /** Human-readable name (5-128 of letters, digits, `_+- ()`; default from the config and labels). */
  name?: string;
  /** ISO 8601 time of the package (default now). */
  timestamp?: string;
  /** ONNX Runtime threads for the test output and the cover. */
  threads?: number;
}

/** Lower-case identifier (a bioimage.io tensor id) from a label and statistic. */
export function tensorId(label: string, statistic: string): string {
  const id = `${label}_${statistic}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return /^[0-9]/.test(id) ? `t_${id}` : id;
}

/**
 * The smallest input side the network accepts: `inputSize + k * stride` for the most negative k
 * whose output still has a pixel and whose towers still fit (buildPlan accepts it).
 */
export function minInputSize(config: ModelConfig): number {
  const stride = outputStride(config);
  for (let k = -Math.floor((config.outputWindow - 1) / stride); k < 0; k++) {
    try {
      buildPlan(config, { inputSize: config.inputSize + k * stride });
      return config.inputSize + k * stride;
    } catch (e) {
      if (!IslError.is(e, 'BAD_OPTION')) throw e;
    }
  }
  return config.inputSize;
}

/**
 * Builds the package's files (see the module comment).
 * @throws IslError BAD_OPTION for a network without label heads, unknown statistics or a bad name;
 *   BAD_INPUT when the sample well is smaller than the network's input or weights are missing.
 */
export async function buildModelPackage(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, opts: ModelPackageOptions): Promise<Map<string, Uint8Array>> {
  const labels = config.heads.labels;
  if (labels.length === 0) throw badOption('config.heads.labels', 'a network with at least one label head', '[]');
  const statistics = [...new Set(opts.statistics ?? PACKAGE_DEFAULTS.statistics)];
  for (const s of statistics) if (!STATISTICS.includes(s)) throw badOption('statistics', `some of ${STATISTICS.join(', ')}`, s);
  const name = opts.name ?? `In silico labeling ${config.name} (${labels.join(' ')})`.replace(/[^A-Za-z0-9_+\- ()]/g, '_').slice(0, 64);
  if (!/^[A-Za-z0-9_+\- ()]{5,128}$/.test(name)) throw badOption('name', '5 to 128 letters, digits, spaces or _+-()', name);

  const outputs = labels.flatMap((label) => statistics.map((statistic) => ({ id: tensorId(label, statistic), label, statistic })));
  const ids = new Set([INPUT_ID, ...outputs.map((o) => o.id)]);
  if (ids.size !== outputs.length + 1) throw badOption('config.heads.labels', 'labels that stay distinct as lower-case tensor ids', labels.join(','));
  for (const id of ids) if (id.length > 32) throw badOption('config.heads.labels', 'labels short enough for tensor ids of at most 32 characters', id);

  const plan = buildPlan(config);
  const onnx = withSlotInput(
    exportOnnx(plan, weights, { heads: labels, outputs: statistics }),
    config.zSlots,
    INPUT_ID,
    outputs.map((o) => ({ from: onnxOutputName(o.label, o.statistic), id: o.id })),
  );

  const min = minInputSize(config);
  const step = outputStride(config);
  const crop = config.inputSize - config.outputWindow; // input px - output px
  const { sample } = opts;
  const fits = Math.min(sample.width, sample.height);
  if (fits < min) throw badInput(opts.sampleSource, `the sample well is ${sample.width}x${sample.height} px; the network needs at least ${min}x${min} px`);
  const wanted = min + step * Math.max(0, Math.ceil((TEST_OUTPUT_PX + crop - min) / step));
  const side = Math.min(wanted, min + step * Math.floor((fits - min) / step));

  const description: ModelDescription = {
    format_version: FORMAT_VERSION,
    type: 'model',
    name,
    description: `In silico labeling (Christiansen et al., Cell 2018): predicts fluorescence labels (${labels.join(', ')}) from a transmitted-light z-stack, as per-pixel statistics of a 256-bin intensity distribution.`,
    authors: opts.authors ?? PACKAGE_DEFAULTS.authors.map((a) => ({ ...a })),
    cite: [{ ...PAPER }],
    license: opts.license ?? PACKAGE_DEFAULTS.license,
    documentation: 'README.md',
    covers: ['cover.png'],
    tags: ['in-silico-labeling', 'virtual-staining', 'label-free', 'transmitted-light', 'fluorescence', '2d', 'onnx'],
    timestamp: opts.timestamp ?? new Date().toISOString(),
    inputs: [
      {
        id: INPUT_ID,
        description: `transmitted-light z-slots; slot s holds plane floor(s * depth / ${config.zSlots}) of the stack`,
        axes: [
          { type: 'batch' },
          { type: 'channel', channel_names: Array.from({ length: config.zSlots }, (_, s) => `z_slot_${String(s).padStart(2, '0')}`) },
          { type: 'space', id: 'y', size: { min, step } },
          { type: 'space', id: 'x', size: { min, step } },
        ],
        test_tensor: { source: 'test_input.npy' },
        data: { type: 'float32' },
        preprocessing: [
          { id: 'ensure_dtype', kwargs: { dtype: 'float32' } },
          { id: 'zero_mean_unit_variance', kwargs: { axes: ['channel', 'y', 'x'], eps: 1e-6 } },
          { id: 'scale_linear', kwargs: { gain: 0.125, offset: 0.5 } },
          { id: 'clip', kwargs: { min: 0, max: 1 } },
          { id: 'ensure_dtype', kwargs: { dtype: 'float32' } },
        ],
      },
    ],
    outputs: outputs.map((o): TensorDescription => ({
      id: o.id,
      description: `${o.statistic} of the predicted ${o.label} intensity distribution${o.statistic === 'entropy' ? ' (bits)' : ' (canonical intensity in [0, 1])'}`,
      axes: [
        { type: 'batch' },
        { type: 'channel', channel_names: [tensorId(o.label, o.statistic)] },
        { type: 'space', id: 'y', size: { tensor_id: INPUT_ID, axis_id: 'y', offset: -crop } },
        { type: 'space', id: 'x', size: { tensor_id: INPUT_ID, axis_id: 'x', offset: -crop } },
      ],
      test_tensor: { source: `test_output_${o.id}.npy` },
      data: { type: 'float32', range: o.statistic === 'entropy' ? [0, Math.log2(config.bins)] : [0, 1] },
    })),
    weights: { onnx: { source: 'weights.onnx', sha256: sha256(onnx), opset_version: OPSET } },
    config: { isl: { version: 1, network: config, outputs, canonicalInput: true } satisfies IslPackageConfig },
  };

  // Test tensors: a centred crop of the sample, declared preprocessing, the packaged graph.
  const x0 = Math.floor((sample.width - side) / 2);
  const y0 = Math.floor((sample.height - side) / 2);
  const planes = slotPlanes(sample.transmitted.stack.depth, config.zSlots);
  const input = new Float32Array(config.zSlots * side * side);
  planes.forEach((p, s) => {
    const src = sample.transmitted.stack.data;
    for (let y = 0; y < side; y++) input.set(src.subarray(((p * sample.height) + y0 + y) * sample.width + x0, ((p * sample.height) + y0 + y) * sample.width + x0 + side), (s * side + y) * side);
  });
  const sampleTensor: SampleTensor = { channels: config.zSlots, height: side, width: side, data: input };
  const prepared = applyPreprocessing(sampleTensor, preprocessingSteps(description.inputs[0], 'bioimageio.yaml'));
  const results = await runOnce(onnx, INPUT_ID, prepared, opts.threads);
  const files = new Map<string, Uint8Array>();
  const npy = (data: Float32Array, shape: number[]) => new Uint8Array(dump(data, shape));
  files.set('test_input.npy', npy(input, [1, config.zSlots, side, side]));
  for (const o of outputs) {
    const r = results[o.id];
    files.set(`test_output_${o.id}.npy`, npy(r.data as Float32Array, [...r.dims]));
  }
  files.set('cover.png', await cover(config, weights, sample, labels[0], opts.threads));
  files.set('weights.onnx', onnx);
  files.set('README.md', new TextEncoder().encode(readme(description, config, min, step, crop, opts.sampleSource, side)));
  description.inputs[0].test_tensor!.sha256 = sha256(files.get('test_input.npy')!);
  for (const o of description.outputs) o.test_tensor!.sha256 = sha256(files.get(o.test_tensor!.source)!);
  files.set('bioimageio.yaml', new TextEncoder().encode(stringify(description, { lineWidth: 0 })));
  return files;
}

/** Runs `onnx` once on a sample (batch of 1) and returns every output. */
async function runOnce(onnx: Uint8Array, inputName: string, t: SampleTensor, threads?: number): Promise<ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  try {
    return await session.run({ [inputName]: new ort.Tensor('float32', t.data, [1, t.channels, t.height, t.width]) });
  } finally {
    await session.release();
  }
}

/**
 * PNG, 2:1: the sample's middle transmitted plane (grey) | the predicted mean intensity of `label`
 * (green; the mean, smooth where the median is still a step function, e.g. early in training), on a centred crop.
 */
async function cover(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, sample: Well, label: string, threads?: number): Promise<Uint8Array> {
  const side = Math.min(COVER_PX, sample.width, sample.height);
  const x0 = Math.floor((sample.width - side) / 2);
  const y0 = Math.floor((sample.height - side) / 2);
  const { depth } = sample.transmitted.stack;
  const crop = new Float32Array(depth * side * side);
  for (let z = 0; z < depth; z++) {
    const p = stackPlane(sample.transmitted.stack, z).data;
    for (let y = 0; y < side; y++) crop.set(p.subarray((y0 + y) * sample.width + x0, (y0 + y) * sample.width + x0 + side), (z * side + y) * side);
  }
  const model = await createInferenceModel(config, weights, { heads: [label], statistics: ['mean'], threads });
  let mean: Float32Array;
  try {
    mean = (await predictStack(model, { width: side, height: side, depth, data: crop })).get(label)!.get('mean')!;
  } finally {
    await closeInferenceModel(model);
  }
  // Stretch the prediction between its 1st and 99th percentile so the structure shows.
  const sorted = Float32Array.from(mean).sort();
  const lo = sorted[Math.floor(0.01 * (sorted.length - 1))];
  const hi = Math.max(sorted[Math.floor(0.99 * (sorted.length - 1))], lo + 1e-6);
  const rgb = new Uint8Array(2 * side * side * 3);
  const mid = Math.floor(depth / 2) * side * side;
  const byte = (v: number) => Math.round(255 * Math.min(1, Math.max(0, v)));
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const g = byte(crop[mid + y * side + x]);
      const left = (y * 2 * side + x) * 3;
      rgb[left] = rgb[left + 1] = rgb[left + 2] = g;
      rgb[left + side * 3 + 1] = byte((mean[y * side + x] - lo) / (hi - lo));
    }
  return new Uint8Array(await sharp(rgb, { raw: { width: 2 * side, height: side, channels: 3 } }).png().toBuffer());
}

/** What a reader of the paper calls the architecture. */
function networkWords(config: ModelConfig): string {
  if (config.arch === 'unet') return 'the paper\'s U-Net baseline';
  if (config.arch === 'deeplab') return 'the paper\'s DeepLab baseline';
  return `the ISL multi-scale network (${config.towers.length} towers)`;
}

function readme(d: ModelDescription, config: ModelConfig, min: number, step: number, crop: number, sampleSource: string, side: number): string {
  const outs = d.outputs.map((o) => `| \`${o.id}\` | ${o.description} |`).join('\n');
  return `# ${d.name}

${d.description}

Network: ${networkWords(config)} (config \`${config.name}\`, ${config.zSlots} z-slots),
exported by [insilico-labeling](https://doi.org/${PAPER.doi}) \`npm run export -- --bioimageio\`.

## Input

\`${INPUT_ID}\`: float32 \`(batch, channel, y, x)\`, one channel per z-slot of a transmitted-light
stack (brightfield, phase contrast or DIC); slot s holds plane floor(s * depth / ${config.zSlots}).
Sizes: ${min} + k * ${step} px per side. Preprocessing (declared in bioimageio.yaml): zero mean and
unit variance over the whole stack, then x 0.125 + 0.5, clipped to [0, 1] (the canonical
transmitted-light normalization of the paper).

## Outputs

Each output is \`(batch, 1, y, x)\` with y = input y - ${crop} (the network's receptive-field margin
of ${crop / 2} px per side is not predicted; pad the input by reflection to predict borders).
Intensities are canonical (mean fluorescence ~0.25 after the paper's normalization).

| id | value |
|---|---|
${outs}

## Use

- bioimage.io Model Zoo / bioimageio.core: \`bioimageio test bioimageio.yaml\`, \`bioimageio predict\`.
- deepImageJ (Fiji) and ilastik: install the zip as a bioimage.io model; they run the ONNX weights.
- insilico-labeling: \`npm run predict -- --model package.zip --input WELLS --output OUT\`.

## Validation

The test tensors are a ${side} x ${side} px crop of the sample well \`${sampleSource}\`, preprocessed
as declared and run through \`weights.onnx\` in ONNX Runtime. To validate on unseen data, predict
held-out wells and compare with their measured labels: \`npm run evaluate\` reports the Pearson
correlation per label (the paper's metric), error images and object-level scores.

## Citation

${PAPER.text} doi:${PAPER.doi}
`;
}
