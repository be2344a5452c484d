/**
 * The ISL multi-scale network as data: a framework-free, ordered list of ops with tensor names,
 * shapes and weight names, built from a {@link ModelConfig}. The TF.js builder
 * (`model/network.ts`) and the ONNX emitter (`model/onnx/`) both interpret the same plan, so
 * weights are addressed by the same names everywhere.
 *
 * Layout conventions (every consumer must follow them):
 * - Activations are NHWC. Plan shapes are per example, `[height, width, channels]`; every tensor
 *   has a leading batch dimension that the plan leaves out.
 * - `conv` filters are `[kh, kw, inChannels, outChannels]` (HWIO, the tfjs layout). ONNX `Conv`
 *   wants `[out, in, kh, kw]`: transpose with perm `[3, 2, 0, 1]`.
 * - `conv_transpose` filters are `[kh, kw, outChannels, inChannels]` (tfjs `conv2dTranspose`).
 *   ONNX `ConvTranspose` wants `[in, out, kh, kw]`: the same perm `[3, 2, 0, 1]`.
 * - All convs use VALID padding (no zero padding), one group; only `deeplab` dilates (ASPP).
 * - The network input has `2 * zSlots` channels, interleaved `[image_0, present_0, image_1,
 *   present_1, ...]`: each z-slot's transmitted-light plane in [0, 1] and its presence mask.
 * - Each head outputs `bins` (256) logits per pixel: the distribution of the 8-bit intensity.
 *
 * The depth rules follow the reference implementation (cross-checked with
 * ../shared/tools/isl_torch_ref.py): r = ceil(base / outputSize), reduce depth = next even of r,
 * expand depth = next even of (211/39) r, both raised to at least the block's input depth on
 * non-transposed blocks; a down-scale stage takes its depths from the stage's output size, an
 * up-scale stage from its final size (after crop and in-scale block) with `upBaseDepth` (396).
 */
import { badOption } from '../core/errors.ts';

/** One tower: a centre crop of the projected input, processed at `2^scale` times coarser resolution. */
export interface TowerConfig {
  /** Side of the centre crop of the network input this tower sees, px (at `inputSize`). */
  crop: number;
  /** Number of 2x down-scale stages (0 = full resolution). */
  scale: number;
}

/** The prediction heads: autoencoding heads predict the input z-planes, label heads the fluorescence labels. */
export interface HeadsConfig {
  /** Number of autoencoding heads (the paper predicts each of the 26 input z-slots). */
  autoencoding: number;
  /** Label names, one head each, in order. */
  labels: string[];
}

/** What every architecture shares: the input, the output window, the heads and batch norm. */
interface ConfigBase {
  /** Config name (`paper`, `small`, `tiny`, `unet`, `deeplab`, or a user's). */
  name: string;
  /** Input patch side, px, for an output of `outputWindow` px. */
  inputSize: number;
  /** Output side, px, for an input of `inputSize` (8 for the paper). */
  outputWindow: number;
  /** Number of transmitted-light z-slots (26 for the paper; 13-plane stacks fill each slot twice). */
  zSlots: number;
  /** Input channels: `2 * zSlots` (image and presence mask per slot). */
  inputChannels: number;
  /** Logits per head and pixel: intensity bins (256). */
  bins: number;
  /** Heads to build. */
  heads: HeadsConfig;
  /** Batch-norm epsilon (1e-5) and moving-average momentum (0.1: moving = 0.9 moving + 0.1 batch). */
  bnEpsilon: number;
  bnMomentum: number;
}

/** Architecture of an ISL network (`arch` absent or `isl`). All towers must end at the same size. */
export interface IslConfig extends ConfigBase {
  arch?: 'isl';
  /** Depth of the first 1x1 projection (16 for the paper). */
  projectionDepth: number;
  /** Towers, in concatenation order. */
  towers: TowerConfig[];
  /** Blocks per tower (18 for the paper: 18 - 4s in-scale blocks plus 2 per down and up stage). */
  towerBlocks: number;
  /** In-scale blocks after the towers are concatenated (14 for the paper). */
  upperBlocks: number;
  /** Base of the depth rule r = ceil(base / size) (400 for the paper). */
  baseDepth: number;
  /** Base of the depth rule for up-scale blocks (396 for the paper, a quirk of the reference). */
  upBaseDepth: number;
}

/**
 * A U-Net (Ronneberger et al. 2015, VALID convs as there), one of the paper's baselines: per level
 * two 3x3 conv units, 2x2 max-pool down, 2x2/2 transposed conv up, the encoder's features
 * centre-cropped and concatenated. "Modified" as the paper's: the same 13-z input and 256-bin
 * heads, and each conv unit is the ISL pre-activation (batch norm, concat(relu, tanh)) + conv.
 */
export interface UnetConfig extends ConfigBase {
  arch: 'unet';
  /** Conv depth per level, full resolution first; `widths.length - 1` down-scalings (output stride 2^that). */
  widths: number[];
}

/**
 * A DeepLab v3+ (Chen et al. 2018), the paper's other baseline, in VALID convs: a backbone of
 * conv units with 2x2 max-pool down-scalings, atrous spatial pyramid pooling (a 1x1 branch and
 * one dilated 3x3 branch per rate, centre-cropped to a common size, concatenated, 1x1 projected;
 * no global image-pooling branch, which would break the fully convolutional size rule), a
 * nearest 2^k upsampling, and a decoder on it concatenated with the full-resolution features.
 */
export interface DeeplabConfig extends ConfigBase {
  arch: 'deeplab';
  /** Backbone conv depth per stage, full resolution first; output stride 2^(length - 1). */
  widths: number[];
  /** Dilation rates of the 3x3 ASPP branches (at the output stride). */
  rates: number[];
  /** Depth of each ASPP branch and of its projection. */
  asppDepth: number;
  /** Depth of the decoder's two 3x3 conv units. */
  decoderDepth: number;
}

/** Architecture of a network: the ISL towers (the paper's) or a baseline it is compared against. */
export type ModelConfig = IslConfig | UnetConfig | DeeplabConfig;

/** Per-example tensor shape, `[height, width, channels]` (NHWC without the batch dimension). */
export type Shape = [number, number, number];

/** How a weight is initialised: uniform in +-limit, or a constant. */
export type WeightInit = { kind: 'uniform'; limit: number } | { kind: 'constant'; value: number };

/** One weight tensor. Non-trainable weights are batch-norm moving statistics. */
export interface WeightSpec {
  name: string;
  shape: number[];
  trainable: boolean;
  init: WeightInit;
}

interface OpBase {
  /** Name of the tensor this op produces (unique in the plan). */
  output: string;
  /** Shape of that tensor, per example. */
  shape: Shape;
}

/** Plan ops. Unless stated otherwise `input` is one tensor name. */
export type PlanOp =
  | (OpBase & { op: 'input' })
  /** VALID conv; `bias` is optional; `dilation` (atrous rate, default 1) spreads the taps. Multiply-accumulates per example in `macs`. */
  | (OpBase & { op: 'conv'; input: string; kernel: number; stride: number; dilation?: number; filter: string; bias?: string; macs: number })
  /** Transposed VALID conv: output side (n - 1) * stride + kernel. */
  | (OpBase & { op: 'conv_transpose'; input: string; kernel: number; stride: number; filter: string; bias?: string; macs: number })
  /** Batch norm over N, H, W: batch statistics in training, moving ones in inference. */
  | (OpBase & { op: 'batchnorm'; input: string; gamma: string; beta: string; movingMean: string; movingVariance: string; epsilon: number; momentum: number })
  /** concat([relu(x), tanh(x)], channels): doubles the depth. */
  | (OpBase & { op: 'relu_tanh_concat'; input: string })
  /** VALID max / average pool. */
  | (OpBase & { op: 'maxpool'; input: string; kernel: number; stride: number })
  | (OpBase & { op: 'avgpool'; input: string; kernel: number; stride: number })
  /** Spatial centre crop: removes `crop` px on each of the four sides. */
  | (OpBase & { op: 'crop'; input: string; crop: number })
  /** Nearest-neighbour upsampling by an integer factor. */
  | (OpBase & { op: 'upsample_nearest'; input: string; factor: number })
  /** Spatial padding by `pad` px on each side, repeating the edge pixels. */
  | (OpBase & { op: 'pad_edge'; input: string; pad: number })
  /** Zero-pads channels at the end up to `shape[2]`. */
  | (OpBase & { op: 'pad_channels'; input: string })
  /** Keeps the first `shape[2]` channels. */
  | (OpBase & { op: 'crop_channels'; input: string })
  /** Element-wise sum of `inputs` (same shapes). */
  | (OpBase & { op: 'add'; inputs: string[] })
  /** Concatenation of `inputs` along channels. */
  | (OpBase & { op: 'concat'; inputs: string[] });

export type PlanOpKind = PlanOp['op'];

/** A network head: the tensor holding its logits. */
export interface HeadSpec {
  name: string;
  kind: 'autoencoding' | 'label';
  /** Tensor with `[outputSize, outputSize, bins]` logits. */
  output: string;
}

/** A built plan: ops in execution order, their weights, and the heads. */
export interface Plan {
  config: ModelConfig;
  layout: 'NHWC';
  inputSize: number;
  outputSize: number;
  /** Name of the input tensor (`input`). */
  input: string;
  ops: PlanOp[];
  weights: WeightSpec[];
  heads: HeadSpec[];
}

const PAPER_TOWERS: TowerConfig[] = [
  { crop: 72, scale: 0 },
  { crop: 102, scale: 1 },
  { crop: 146, scale: 2 },
  { crop: 202, scale: 3 },
  { crop: 250, scale: 4 },
];

/** The paper's network: 250 px input, 8 px output, five towers, base depth 400, 26 z-slots. */
export const paper: IslConfig = {
  name: 'paper',
  inputSize: 250,
  outputWindow: 8,
  zSlots: 26,
  inputChannels: 52,
  projectionDepth: 16,
  towers: PAPER_TOWERS,
  towerBlocks: 18,
  upperBlocks: 14,
  baseDepth: 400,
  upBaseDepth: 396,
  bins: 256,
  heads: { autoencoding: 26, labels: ['nuclei'] },
  bnEpsilon: 1e-5,
  bnMomentum: 0.1,
};

/**
 * A CPU-trainable network of the paper's structure: three towers (scales 0-2), 10 blocks per
 * tower, 4 upper blocks, base depth 160, 5 z-slots; 70 px input -> 16 px output (fully
 * convolutional in steps of 4 px).
 */
export const small: IslConfig = {
  name: 'small',
  inputSize: 70,
  outputWindow: 16,
  zSlots: 5,
  inputChannels: 10,
  projectionDepth: 16,
  towers: [
    { crop: 44, scale: 0 },
    { crop: 58, scale: 1 },
    { crop: 70, scale: 2 },
  ],
  towerBlocks: 10,
  upperBlocks: 4,
  baseDepth: 160,
  upBaseDepth: 156,
  bins: 256,
  heads: { autoencoding: 5, labels: ['nuclei'] },
  bnEpsilon: 1e-5,
  bnMomentum: 0.1,
};

/** A network for tests: two towers, 6 blocks each, 2 upper blocks; 26 px input -> 4 px output. */
export const tiny: IslConfig = {
  name: 'tiny',
  inputSize: 26,
  outputWindow: 4,
  zSlots: 2,
  inputChannels: 4,
  projectionDepth: 4,
  towers: [
    { crop: 20, scale: 0 },
    { crop: 26, scale: 1 },
  ],
  towerBlocks: 6,
  upperBlocks: 2,
  baseDepth: 24,
  upBaseDepth: 20,
  bins: 256,
  heads: { autoencoding: 2, labels: ['nuclei'] },
  bnEpsilon: 1e-5,
  bnMomentum: 0.1,
};

/**
 * A tiny network whose coarsest stride (4) does not divide its output window (6 px), as in the
 * paper's network (8 px at stride 16): two grid phases per axis, so exact and fast prediction
 * differ. For tests and for measuring that difference on a trained model.
 */
export const phased: IslConfig = {
  ...structuredClone(tiny),
  name: 'phased',
  inputSize: 38,
  outputWindow: 6,
  towers: [{ crop: 24, scale: 0 }, { crop: 34, scale: 1 }, { crop: 38, scale: 2 }],
  towerBlocks: 8,
  upperBlocks: 1,
  heads: { autoencoding: 0, labels: ['nuclei', 'neurons'] },
};

/** What both baselines share: the real well's 13 z-planes, 256 bins, batch norm (configByName clones). */
const BASELINE = {
  zSlots: 13,
  inputChannels: 26,
  bins: 256,
  heads: { autoencoding: 0, labels: ['nuclei'] },
  bnEpsilon: 1e-5,
  bnMomentum: 0.1,
};

/**
 * The paper's U-Net baseline at a CPU-trainable size: 3 levels (stride 4), depths 32/64/128;
 * 84 px input -> 44 px output (fully convolutional in steps of 4 px: 100 -> 60 on 102 px patches).
 */
export const unet: UnetConfig = {
  ...BASELINE,
  arch: 'unet',
  name: 'unet',
  inputSize: 84,
  outputWindow: 44,
  widths: [32, 64, 128],
};

/**
 * The paper's DeepLab baseline at a CPU-trainable size: backbone depths 24/48/96 (stride 4), ASPP
 * rates 1, 2, 3 of depth 64 (the paper-scale 6, 12, 18 shrunk to a 100 px input), decoder depth 32;
 * 100 px input -> 44 px output (steps of 4 px).
 */
export const deeplab: DeeplabConfig = {
  ...BASELINE,
  arch: 'deeplab',
  name: 'deeplab',
  inputSize: 100,
  outputWindow: 44,
  widths: [24, 48, 96],
  rates: [1, 2, 3],
  asppDepth: 64,
  decoderDepth: 32,
};

/** Named configs accepted by `--config`. */
export const configs: Record<string, ModelConfig> = { paper, small, tiny, phased, unet, deeplab };

/** Returns the named config, or throws a BAD_OPTION error listing the known names. */
export function configByName(name: string): ModelConfig {
  const c = configs[name];
  if (!c) throw badOption('--config', `one of ${Object.keys(configs).join(', ')}`, name);
  return structuredClone(c);
}

/** A copy of `config` with other heads. */
export function withHeads(config: ModelConfig, heads: HeadsConfig): ModelConfig {
  return { ...structuredClone(config), heads: { autoencoding: heads.autoencoding, labels: [...heads.labels] } };
}

/**
 * A copy of `config` with `zSlots` input z-slots (e.g. 13 for 13-plane stacks in a config built for
 * 5); the rest of the network is unchanged except the 1x1 projection's input depth.
 * @throws IslError BAD_OPTION for zSlots not a positive integer
 */
export function withZSlots(config: ModelConfig, zSlots: number): ModelConfig {
  if (!Number.isInteger(zSlots) || zSlots < 1) throw badOption('--z-slots', 'a positive integer', zSlots);
  return { ...structuredClone(config), zSlots, inputChannels: 2 * zSlots };
}

/** Names of the heads of a config, autoencoding first (`autoencoding_0`, ...), then the labels. */
export function headNames(config: ModelConfig): string[] {
  return [...Array.from({ length: config.heads.autoencoding }, (_, i) => `autoencoding_${i}`), ...config.heads.labels];
}

/** Output stride of the fully convolutional network: 2^max scale (16 for the paper), 2^down-scalings for the baselines. */
export function outputStride(config: ModelConfig): number {
  if (config.arch === 'unet' || config.arch === 'deeplab') return 2 ** (config.widths.length - 1);
  return 2 ** Math.max(...config.towers.map((t) => t.scale));
}

function nextEven(x: number): number {
  const n = Math.ceil(x - 1e-9);
  return n + (n % 2);
}

/** Expand and reduce depths for a block whose stage ends at `size` px (the reference's rule). */
export function blockDepths(size: number, base: number): { expand: number; reduce: number } {
  const r = Math.ceil(base / size - 1e-9);
  return { expand: nextEven((211 / 39) * r), reduce: nextEven(r) };
}

/** Builds ops and weights; one instance per plan. */
class Builder {
  ops: PlanOp[] = [];
  weights: WeightSpec[] = [];

  weight(name: string, shape: number[], trainable: boolean, init: WeightInit): string {
    this.weights.push({ name, shape, trainable, init });
    return name;
  }

  push<T extends PlanOp>(op: T): T {
    this.ops.push(op);
    return op;
  }

  batchnorm(x: PlanOp, name: string, config: ModelConfig): PlanOp {
    const c = x.shape[2];
    return this.push({
      op: 'batchnorm',
      input: x.output,
      output: `${name}/bn`,
      shape: x.shape,
      gamma: this.weight(`${name}/bn/gamma`, [c], true, { kind: 'constant', value: 1 }),
      beta: this.weight(`${name}/bn/beta`, [c], true, { kind: 'constant', value: 0 }),
      movingMean: this.weight(`${name}/bn/moving_mean`, [c], false, { kind: 'constant', value: 0 }),
      movingVariance: this.weight(`${name}/bn/moving_variance`, [c], false, { kind: 'constant', value: 1 }),
      epsilon: config.bnEpsilon,
      momentum: config.bnMomentum,
    });
  }

  /** BN -> concat(relu, tanh): the pre-activation of every conv in the network. */
  preact(x: PlanOp, name: string, config: ModelConfig): PlanOp {
    const bn = this.batchnorm(x, name, config);
    return this.push({ op: 'relu_tanh_concat', input: bn.output, output: `${name}/act`, shape: [bn.shape[0], bn.shape[1], 2 * bn.shape[2]] });
  }

  conv(x: PlanOp, name: string, kernel: number, stride: number, depth: number, bias: boolean, dilation = 1): PlanOp {
    const [h, w, cin] = x.shape;
    const size = (n: number) => (n - (kernel - 1) * dilation - 1) / stride + 1;
    const oh = size(h);
    const ow = size(w);
    if (!Number.isInteger(oh) || oh < 1 || !Number.isInteger(ow) || ow < 1) {
      throw badOption(`${name} input size`, `a size s with (s - ${kernel}) divisible by ${stride}`, `${h}x${w}`);
    }
    const fanIn = cin * kernel * kernel;
    const limit = 1 / Math.sqrt(fanIn);
    return this.push({
      op: 'conv',
      input: x.output,
      output: `${name}/conv`,
      shape: [oh, ow, depth],
      kernel,
      stride,
      ...(dilation > 1 ? { dilation } : {}),
      filter: this.weight(`${name}/conv/filter`, [kernel, kernel, cin, depth], true, { kind: 'uniform', limit }),
      ...(bias ? { bias: this.weight(`${name}/conv/bias`, [depth], true, { kind: 'uniform', limit }) } : {}),
      macs: oh * ow * depth * fanIn,
    });
  }

  convTranspose(x: PlanOp, name: string, kernel: number, stride: number, depth: number): PlanOp {
    const [h, w, cin] = x.shape;
    // PyTorch's ConvTranspose2d weight fan-in is out_channels * k * k.
    const limit = 1 / Math.sqrt(depth * kernel * kernel);
    return this.push({
      op: 'conv_transpose',
      input: x.output,
      output: `${name}/conv_transpose`,
      shape: [(h - 1) * stride + kernel, (w - 1) * stride + kernel, depth],
      kernel,
      stride,
      filter: this.weight(`${name}/conv_transpose/filter`, [kernel, kernel, depth, cin], true, { kind: 'uniform', limit }),
      macs: h * w * cin * depth * kernel * kernel,
    });
  }

  /**
   * One residual block. `kind` in: 3x3 conv; down: 4x4/2 conv; up: 4x4/2 transposed conv.
   * `size` is the stage's output size that sets the depths.
   */
  block(x: PlanOp, name: string, kind: 'in' | 'down' | 'up', size: number, config: IslConfig): PlanOp {
    const cin = x.shape[2];
    let { expand, reduce } = blockDepths(size, kind === 'up' ? config.upBaseDepth : config.baseDepth);
    if (kind !== 'up') {
      expand = Math.max(expand, cin);
      reduce = Math.max(reduce, cin);
    }
    const [k, s] = kind === 'in' ? [3, 1] : [4, 2];
    const a = this.preact(x, `${name}/expand`, config);
    let e: PlanOp;
    if (kind === 'up') {
      e = this.convTranspose(a, `${name}/expand`, k, s, expand);
    } else {
      const conv = this.conv(a, `${name}/expand`, k, s, expand, false);
      const pool = this.push({ op: 'maxpool', input: x.output, output: `${name}/expand/maxpool`, shape: [conv.shape[0], conv.shape[1], cin], kernel: k, stride: s });
      e = this.push({ op: 'concat', inputs: [conv.output, pool.output], output: `${name}/expand/concat`, shape: [conv.shape[0], conv.shape[1], expand + cin] });
    }
    const r = this.conv(this.preact(e, `${name}/reduce`, config), `${name}/reduce`, 1, 1, reduce, false);
    const [oh, ow] = r.shape;
    let sc: PlanOp;
    if (kind === 'in') {
      sc = this.push({ op: 'crop', input: x.output, output: `${name}/shortcut/crop`, shape: [oh, ow, cin], crop: 1 });
    } else if (kind === 'down') {
      const c = this.push({ op: 'crop', input: x.output, output: `${name}/shortcut/crop`, shape: [x.shape[0] - 2, x.shape[1] - 2, cin], crop: 1 });
      sc = this.push({ op: 'avgpool', input: c.output, output: `${name}/shortcut/avgpool`, shape: [oh, ow, cin], kernel: 2, stride: 2 });
    } else {
      const u = this.push({ op: 'upsample_nearest', input: x.output, output: `${name}/shortcut/upsample`, shape: [2 * x.shape[0], 2 * x.shape[1], cin], factor: 2 });
      sc = this.push({ op: 'pad_edge', input: u.output, output: `${name}/shortcut/pad`, shape: [oh, ow, cin], pad: 1 });
    }
    let y: PlanOp = r;
    if (kind === 'up') {
      const c = Math.min(reduce, cin);
      if (reduce > c) y = this.push({ op: 'crop_channels', input: r.output, output: `${name}/crop_channels`, shape: [oh, ow, c] });
      if (cin > c) sc = this.push({ op: 'crop_channels', input: sc.output, output: `${name}/shortcut/crop_channels`, shape: [oh, ow, c] });
    } else if (cin < reduce) {
      sc = this.push({ op: 'pad_channels', input: sc.output, output: `${name}/shortcut/pad_channels`, shape: [oh, ow, reduce] });
    }
    return this.push({ op: 'add', inputs: [y.output, sc.output], output: `${name}/add`, shape: y.shape });
  }
}

/** Options of {@link buildPlan}. */
export interface PlanOptions {
  /**
   * Input side, px (default `config.inputSize`). The network is fully convolutional: any
   * `config.inputSize + k * outputStride(config)` works and gives an output of
   * `config.outputWindow + k * outputStride(config)`; other sizes misalign the towers.
   */
  inputSize?: number;
}

/**
 * Builds the plan of `config`: ops in execution order with per-example NHWC shapes, all weights,
 * and the heads' output tensors.
 * @throws IslError BAD_OPTION when the config is inconsistent (towers ending at different sizes,
 *   sizes that do not divide by the strides) or `inputSize` is not a valid fully convolutional size.
 */
export function buildPlan(config: ModelConfig, opts: PlanOptions = {}): Plan {
  validateConfig(config);
  const stride = outputStride(config);
  const inputSize = opts.inputSize ?? config.inputSize;
  const extra = inputSize - config.inputSize;
  if (!Number.isInteger(inputSize) || extra % stride !== 0 || config.outputWindow + extra < 1) {
    throw badOption('inputSize', `${config.inputSize} + k * ${stride} px (integer k, output >= 1 px) for config ${config.name}`, inputSize);
  }
  const b = new Builder();
  const input = b.push({ op: 'input', output: 'input', shape: [inputSize, inputSize, config.inputChannels] });
  const x = config.arch === 'unet' ? unetCore(b, input, config) : config.arch === 'deeplab' ? deeplabCore(b, input, config) : islCore(b, input, config, extra);
  const heads: HeadSpec[] = headNames(config).map((name, i) => {
    const act = b.preact(x, `head/${name}`, config);
    const logits = b.conv(act, `head/${name}`, 1, 1, config.bins, true);
    return { name, kind: i < config.heads.autoencoding ? 'autoencoding' : 'label', output: logits.output };
  });
  const outputSize = x.shape[0];
  if (outputSize !== config.outputWindow + extra) {
    throw badOption(`outputWindow of config ${config.name}`, `${outputSize - extra} (what its layers produce from ${config.inputSize} px)`, config.outputWindow);
  }
  return { config, layout: 'NHWC', inputSize, outputSize, input: input.output, ops: b.ops, weights: b.weights, heads };
}

/** The ISL towers and upper blocks: the features the heads read. */
function islCore(b: Builder, input: PlanOp, config: IslConfig, extra: number): PlanOp {
  const inputSize = input.shape[0];
  const proj = b.conv(input, 'projection', 1, 1, config.projectionDepth, true);
  const towerOuts: PlanOp[] = [];
  config.towers.forEach((t, ti) => {
    const name = `tower${ti}`;
    const crop = (config.inputSize - t.crop) / 2;
    let x: PlanOp = crop > 0 ? b.push({ op: 'crop', input: proj.output, output: `${name}/crop`, shape: [inputSize - 2 * crop, inputSize - 2 * crop, proj.shape[2]], crop }) : proj;
    // Depths follow the sizes at the config's own input size (`size` below), so a larger input
    // gives the same network with a larger output, not other depths.
    let size = t.crop;
    let bi = 0;
    for (let s = 0; s < t.scale; s++) {
      size = (size - 2) / 2 - 2;
      x = b.block(x, `${name}/block${bi++}`, 'down', size, config);
      x = b.block(x, `${name}/block${bi++}`, 'in', size, config);
    }
    for (let i = 0; i < config.towerBlocks - 4 * t.scale; i++) {
      size -= 2;
      x = b.block(x, `${name}/block${bi++}`, 'in', size, config);
    }
    for (let s = 0; s < t.scale; s++) {
      size = 2 * size - 4;
      x = b.block(x, `${name}/block${bi++}`, 'up', size, config);
      x = b.push({ op: 'crop', input: x.output, output: `${name}/block${bi - 1}/crop`, shape: [x.shape[0] - 4, x.shape[1] - 4, x.shape[2]], crop: 2 });
      x = b.block(x, `${name}/block${bi++}`, 'in', size, config);
    }
    towerOuts.push(x);
  });
  const sizes = towerOuts.map((t) => t.shape[0]);
  if (sizes.some((s) => s !== sizes[0])) {
    throw badOption(`towers of config ${config.name}`, 'crops whose towers all end at the same size', `tower output sizes ${sizes.join(', ')}`);
  }
  let x: PlanOp = b.push({
    op: 'concat',
    inputs: towerOuts.map((t) => t.output),
    output: 'towers/concat',
    shape: [sizes[0], sizes[0], towerOuts.reduce((a, t) => a + t.shape[2], 0)],
  });
  let size = sizes[0] - extra;
  for (let i = 0; i < config.upperBlocks; i++) {
    size -= 2;
    x = b.block(x, `upper/block${i}`, 'in', size, config);
  }
  return x;
}

/** A conv unit of the baselines: the ISL pre-activation (batch norm, concat(relu, tanh)) and a VALID conv. */
function unit(b: Builder, x: PlanOp, name: string, kernel: number, depth: number, config: ModelConfig, dilation = 1): PlanOp {
  return b.conv(b.preact(x, name, config), name, kernel, 1, depth, false, dilation);
}

/** 2x2/2 max-pool, which needs an even side. */
function pool2(b: Builder, x: PlanOp, name: string, config: ModelConfig): PlanOp {
  const [h, w, c] = x.shape;
  if (h % 2 !== 0) throw badOption('inputSize', `a size whose features before every 2x down-scaling of config ${config.name} are even (${name} gets ${h} px)`, `${config.name} input`);
  return b.push({ op: 'maxpool', input: x.output, output: `${name}/maxpool`, shape: [h / 2, w / 2, c], kernel: 2, stride: 2 });
}

/** Centre crop of `x` to `side` px (no op when already that size). */
function cropTo(b: Builder, x: PlanOp, side: number, name: string): PlanOp {
  const d = x.shape[0] - side;
  if (d === 0) return x;
  if (d < 0 || d % 2 !== 0) throw new Error(`internal: cannot centre-crop ${x.output} (${x.shape[0]} px) to ${side} px`);
  return b.push({ op: 'crop', input: x.output, output: `${name}/crop`, shape: [side, side, x.shape[2]], crop: d / 2 });
}

/** The U-Net encoder and decoder: the features the heads read. */
function unetCore(b: Builder, input: PlanOp, config: UnetConfig): PlanOp {
  const w = config.widths;
  const skips: PlanOp[] = [];
  let x: PlanOp = b.conv(input, 'down0/conv0', 3, 1, w[0], true);
  x = unit(b, x, 'down0/conv1', 3, w[0], config);
  for (let l = 1; l < w.length; l++) {
    skips.push(x);
    x = pool2(b, x, `down${l}`, config);
    x = unit(b, x, `down${l}/conv0`, 3, w[l], config);
    x = unit(b, x, `down${l}/conv1`, 3, w[l], config);
  }
  for (let l = w.length - 2; l >= 0; l--) {
    const up = b.convTranspose(b.preact(x, `up${l}/upconv`, config), `up${l}/upconv`, 2, 2, w[l]);
    const skip = cropTo(b, skips[l], up.shape[0], `up${l}/skip`);
    if (skip.shape[0] !== up.shape[0]) throw badOption('inputSize', `a size large enough for config ${config.name}`, input.shape[0]);
    x = b.push({ op: 'concat', inputs: [skip.output, up.output], output: `up${l}/concat`, shape: [up.shape[0], up.shape[1], skip.shape[2] + up.shape[2]] });
    x = unit(b, x, `up${l}/conv0`, 3, w[l], config);
    x = unit(b, x, `up${l}/conv1`, 3, w[l], config);
  }
  return x;
}

/** The DeepLab backbone, ASPP and decoder: the features the heads read. */
function deeplabCore(b: Builder, input: PlanOp, config: DeeplabConfig): PlanOp {
  const w = config.widths;
  let x: PlanOp = b.conv(input, 'stage0/conv0', 3, 1, w[0], true);
  x = unit(b, x, 'stage0/conv1', 3, w[0], config);
  const low = x;
  for (let s = 1; s < w.length; s++) {
    x = pool2(b, x, `stage${s}`, config);
    x = unit(b, x, `stage${s}/conv0`, 3, w[s], config);
    x = unit(b, x, `stage${s}/conv1`, 3, w[s], config);
  }
  const branches = [unit(b, x, 'aspp/branch0', 1, config.asppDepth, config), ...config.rates.map((r, i) => unit(b, x, `aspp/branch${i + 1}`, 3, config.asppDepth, config, r))];
  const side = Math.min(...branches.map((t) => t.shape[0]));
  const cropped = branches.map((t, i) => cropTo(b, t, side, `aspp/branch${i}`));
  const cat = b.push({ op: 'concat', inputs: cropped.map((t) => t.output), output: 'aspp/concat', shape: [side, side, cropped.length * config.asppDepth] });
  const proj = unit(b, cat, 'aspp/projection', 1, config.asppDepth, config);
  const f = outputStride(config);
  const up = b.push({ op: 'upsample_nearest', input: proj.output, output: 'decoder/upsample', shape: [f * side, f * side, config.asppDepth], factor: f });
  const skip = cropTo(b, low, up.shape[0], 'decoder/skip');
  x = b.push({ op: 'concat', inputs: [skip.output, up.output], output: 'decoder/concat', shape: [up.shape[0], up.shape[1], skip.shape[2] + up.shape[2]] });
  x = unit(b, x, 'decoder/conv0', 3, config.decoderDepth, config);
  return unit(b, x, 'decoder/conv1', 3, config.decoderDepth, config);
}

/** A check of config field values: positive integers, else BAD_OPTION naming `<config>.<field>`. */
function positiveInteger(c: ModelConfig) {
  return (name: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 1) throw badOption(`${c.name}.${name}`, 'a positive integer', v);
  };
}

function validateConfig(c: ModelConfig): void {
  const posInt = positiveInteger(c);
  for (const k of ['inputSize', 'outputWindow', 'zSlots', 'inputChannels', 'bins'] as const) posInt(k, c[k]);
  if (c.arch === 'unet' || c.arch === 'deeplab') {
    if (!Array.isArray(c.widths) || c.widths.length < 2) throw badOption(`${c.name}.widths`, 'at least two depths (full resolution, then one per 2x down-scaling)', c.widths);
    c.widths.forEach((d, i) => posInt(`widths[${i}]`, d));
    if (c.arch === 'deeplab') {
      posInt('asppDepth', c.asppDepth);
      posInt('decoderDepth', c.decoderDepth);
      c.rates.forEach((r, i) => posInt(`rates[${i}]`, r));
    }
  } else validateIsl(c);
  validateCommon(c);
}

function validateIsl(c: IslConfig): void {
  const posInt = positiveInteger(c);
  for (const k of ['projectionDepth', 'towerBlocks', 'baseDepth', 'upBaseDepth'] as const) posInt(k, c[k]);
  if (!Number.isInteger(c.upperBlocks) || c.upperBlocks < 0) throw badOption(`${c.name}.upperBlocks`, 'an integer >= 0', c.upperBlocks);
  if (c.towers.length === 0) throw badOption(`${c.name}.towers`, 'at least one tower', 0);
  for (const t of c.towers) {
    if (!Number.isInteger(t.scale) || t.scale < 0 || 4 * t.scale > c.towerBlocks) throw badOption(`${c.name}.towers.scale`, `an integer in 0..${Math.floor(c.towerBlocks / 4)}`, t.scale);
    if (!Number.isInteger(t.crop) || t.crop > c.inputSize || (c.inputSize - t.crop) % 2 !== 0) {
      throw badOption(`${c.name}.towers.crop`, `a size <= ${c.inputSize} with an even margin`, t.crop);
    }
  }
}

function validateCommon(c: ModelConfig): void {
  if (c.inputChannels !== 2 * c.zSlots) throw badOption(`${c.name}.inputChannels`, `2 * zSlots = ${2 * c.zSlots}`, c.inputChannels);
  if (c.heads.autoencoding < 0 || !Number.isInteger(c.heads.autoencoding)) throw badOption(`${c.name}.heads.autoencoding`, 'an integer >= 0', c.heads.autoencoding);
  const labels = new Set<string>();
  for (const l of c.heads.labels) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(l) || /^autoencoding_\d+$/.test(l) || labels.has(l)) {
      throw badOption(`${c.name}.heads.labels`, 'distinct label names of letters, digits, _ . - (not autoencoding_N)', l);
    }
    labels.add(l);
  }
  if (!(c.bnEpsilon > 0) || !(c.bnMomentum > 0 && c.bnMomentum <= 1)) throw badOption(`${c.name}.bnEpsilon/bnMomentum`, 'epsilon > 0 and momentum in (0, 1]', `${c.bnEpsilon}/${c.bnMomentum}`);
}

/** Number of trainable parameters (batch-norm moving statistics excluded), optionally only of weights matching `filter`. */
export function countParams(plan: Plan, filter: (w: WeightSpec) => boolean = () => true): number {
  return plan.weights.filter((w) => w.trainable && filter(w)).reduce((a, w) => a + w.shape.reduce((p, d) => p * d, 1), 0);
}

/** Multiply-accumulates of the convs per example for one forward pass. */
export function countMacs(plan: Plan): number {
  return plan.ops.reduce((a, op) => a + (op.op === 'conv' || op.op === 'conv_transpose' ? op.macs : 0), 0);
}
