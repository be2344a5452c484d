/**
 * Whole-image ISL inference with ONNX Runtime: tiles a transmitted-light z-stack, runs the
 * exported network fully convolutionally, and assembles per-pixel statistics of each label's
 * 256-bin intensity distribution.
 *
 * Borders: the image is extended by reflection (numpy `reflect`: d c b | a b c d | c b a, repeated
 * for pads larger than the image) so every pixel, borders included, is predicted.
 * Tiles: each tile's input extends `margin` px (the receptive field, 121 px for the paper) beyond
 * its output on every side, so adjacent tiles overlap in their inputs and their outputs join
 * without seams. Tile origins are multiples of lcm(stride, outputWindow), so every tile sees the
 * same grid phase as one whole-image pass.
 *
 * Modes (the paper's definition of a prediction: each 8x8 output block is what the network gives
 * on the 250x250 patch centred on it, patches at stride 8):
 * - `exact` reproduces that definition. The network's coarsest tower has stride 16, so one pass
 *   only reproduces the blocks whose patch offset is a multiple of 16; passes on inputs shifted by
 *   8 px in y and/or x (4 passes for the paper) give the other blocks, which are interleaved.
 * - `fast` runs one pass per tile: blocks at the other phases differ slightly from `exact`.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { badInput, badOption, IslError } from '../../core/errors.ts';
import type { ZStack } from '../../core/image.ts';
import { buildPlan, outputStride, type ModelConfig, type Plan } from '../plan.ts';
import { exportOnnx, onnxOutputName, STATISTICS, type Statistic } from './export.ts';

export type { Statistic } from './export.ts';
export { STATISTICS } from './export.ts';

/** A ready inference session with what the tiler needs to know about the network. */
export interface InferenceModel {
  readonly config: ModelConfig;
  /** Label heads this session predicts. */
  readonly heads: readonly string[];
  readonly statistics: readonly Statistic[];
  /** Px lost on each side by the network: (inputSize - outputWindow) / 2. */
  readonly margin: number;
  /** Output stride of the fully convolutional network (16 for the paper). */
  readonly stride: number;
  readonly session: ort.InferenceSession;
  readonly threads: number;
  /** The execution provider the session runs on (the first of `providers` that started). */
  readonly provider: string;
}

/** Options of {@link createInferenceModel}. */
export interface InferenceModelOptions {
  /** Heads to predict (default: every label head). */
  heads?: readonly string[];
  /** Statistics to compute (default `['median']`). */
  statistics?: readonly Statistic[];
  /** ONNX Runtime intra-op threads (default: all cores). */
  threads?: number;
  /**
   * ONNX Runtime execution providers in order of preference (default `['cpu']`). onnxruntime-node
   * bundles `cpu` and `webgpu`; `cuda` works where the user installed its CUDA provider.
   */
  providers?: readonly string[];
}

/**
 * Exports the network in memory (statistics computed inside the graph, so only `[OH, OW]` maps
 * leave ONNX Runtime, never the 256-bin distributions) and opens an ONNX Runtime CPU session.
 * @param weights by plan weight name, plan layout (as model/network.ts and checkpoints hold them).
 * @throws IslError BAD_OPTION for unknown heads or statistics, BAD_INPUT for missing weights.
 */
export async function createInferenceModel(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, opts: InferenceModelOptions = {}): Promise<InferenceModel> {
  const plan = buildPlan(config);
  const heads = opts.heads ?? config.heads.labels;
  const statistics = opts.statistics ?? ['median'];
  if (statistics.length === 0) throw badOption('statistics', `some of ${STATISTICS.join(', ')}`, '[]');
  for (const s of statistics) if (!STATISTICS.includes(s)) throw badOption('statistics', `some of ${STATISTICS.join(', ')}`, s);
  const threads = opts.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1) throw badOption('threads', 'a positive integer', threads);
  const providers = opts.providers ?? ['cpu'];
  if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => typeof p !== 'string' || p === '')) throw badOption('providers', 'a non-empty list of execution provider names (cpu, webgpu, cuda)', providers);
  const bytes = exportOnnx(plan, weights, { heads, outputs: statistics });
  // A provider that cannot start here (no GPU adapter, no CUDA) falls through to the next one.
  let session: ort.InferenceSession | undefined;
  let provider = '';
  const failures: string[] = [];
  for (let i = 0; i < providers.length && !session; i++) {
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: [providers[i]],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        // Worker threads sleep instead of spin-waiting between ops: on a shared or oversubscribed
        // machine spinning threads burn the cores the other thread needs.
        // Denormal floats (tiny activations deep in the towers) are ~100x slower on x86: flush them.
        extra: { session: { intra_op: { allow_spinning: '0' }, set_denormal_as_zero: '1' } },
      });
      provider = providers[i];
    } catch (e) {
      failures.push(`${providers[i]}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!session) throw new IslError('BAD_OPTION', `No execution provider could start (${failures.join('; ')}); add cpu to the providers`);
  return { config, heads, statistics, margin: (config.inputSize - config.outputWindow) / 2, stride: outputStride(config), session, threads, provider };
}

/**
 * Which plane of a `depth`-plane stack feeds each of the network's `zSlots` input slots: slot s
 * takes plane floor(s * depth / zSlots), so a 13-plane stack fills the paper's 26 slots twice
 * each in order, and a stack as deep as the slots maps one to one. Every slot is marked present.
 */
export function slotPlanes(depth: number, zSlots: number): number[] {
  return Array.from({ length: zSlots }, (_, s) => Math.floor((s * depth) / zSlots));
}

/** Index of `i` reflected into [0, n) (numpy `reflect`, periodic for far indices). */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** One axis of the tiling: tile output origins, the rows each keeps, and the pass size. */
export interface AxisTiles {
  /** Network output side per pass (outputWindow + k * stride). */
  readonly out: number;
  /** Output rows kept per tile (a multiple of lcm(stride, outputWindow)). */
  readonly keep: number;
  readonly origins: readonly number[];
}

function axisTiles(n: number, maxOut: number, ow: number, stride: number): AxisTiles {
  const l = (stride * ow) / gcd(stride, ow);
  const outFor = (need: number) => ow + stride * Math.max(0, Math.ceil((need - ow) / stride));
  // Smallest pass whose kept rows (whole lcm-blocks) cover the axis, capped at maxOut, but at least one lcm-block.
  let out = Math.min(outFor(Math.ceil(n / l) * l), outFor(maxOut));
  let keep = Math.floor(out / l) * l;
  if (keep === 0) {
    out = outFor(l);
    keep = l;
  }
  if (keep >= n) keep = Math.ceil(n / l) * l;
  const origins: number[] = [];
  for (let o = 0; o < n; o += keep) origins.push(o);
  return { out, keep, origins };
}

/** How {@link predictStack} tiles a `width x height` image: the same passes whether it predicts the whole image or a block of it. */
export interface Tiling {
  readonly width: number;
  readonly height: number;
  readonly rows: AxisTiles;
  readonly cols: AxisTiles;
  /** Px of input the network needs beyond its output on each side. */
  readonly margin: number;
  readonly stride: number;
  /** Grid phases of the exact mode's shifted passes (0 and 8 for the paper); fast mode uses [0]. */
  readonly exactPhases: readonly number[];
}

/** A rectangle of image px. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * The tiling of a `width x height` image for `config` with passes of at most `tile` px of output.
 * @throws IslError BAD_OPTION for a tile smaller than the network's output window.
 */
export function tiling(config: ModelConfig, width: number, height: number, tile = 520): Tiling {
  const ow = config.outputWindow;
  if (!Number.isInteger(tile) || tile < ow) throw badOption('tile', `an integer >= ${ow} (px of network output per pass)`, tile);
  const stride = outputStride(config);
  const g = gcd(stride, ow);
  return {
    width,
    height,
    rows: axisTiles(height, tile, ow, stride),
    cols: axisTiles(width, tile, ow, stride),
    margin: (config.inputSize - ow) / 2,
    stride,
    exactPhases: Array.from({ length: stride / g }, (_, i) => i * g),
  };
}

/**
 * Splits an image into blocks of whole tiles, about `blockSize` px per side (at least one tile),
 * row-major. Predicting each block with {@link predictStack}'s `block` option runs exactly the
 * passes of the whole-image prediction, so the blocks put together equal it bit for bit.
 */
export function tileBlocks(t: Tiling, blockSize: number): Rect[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw badOption('blockSize', 'a positive integer (px)', blockSize);
  const spans = (a: AxisTiles, n: number) => {
    const k = Math.max(1, Math.floor(blockSize / a.keep));
    const r: [number, number][] = [];
    for (let i = 0; i < a.origins.length; i += k) r.push([a.origins[i], i + k < a.origins.length ? a.origins[i + k] : n]);
    return r;
  };
  const blocks: Rect[] = [];
  for (const [y0, y1] of spans(t.rows, t.height)) for (const [x0, x1] of spans(t.cols, t.width)) blocks.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
  return blocks;
}

/**
 * The rectangle of the image that the passes predicting `block` read (reflected borders
 * included): a block job needs only this window of the well.
 */
export function blockInput(t: Tiling, block: Rect, mode: 'fast' | 'exact'): Rect {
  const maxPhase = mode === 'exact' ? t.exactPhases[t.exactPhases.length - 1] : 0;
  const span = (a: AxisTiles, start: number, size: number, n: number): [number, number] => {
    const last = a.origins.filter((o) => o >= start && o < start + size).pop() ?? start;
    let lo = n;
    let hi = -1;
    for (let i = start - t.margin; i < last + maxPhase - t.margin + a.out + 2 * t.margin; i++) {
      const r = reflectIndex(i, n);
      if (r < lo) lo = r;
      if (r > hi) hi = r;
    }
    return [lo, hi + 1];
  };
  const [y0, y1] = span(t.rows, block.y, block.height, t.height);
  const [x0, x1] = span(t.cols, block.x, block.width, t.width);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Options of {@link predictStack}. */
export interface PredictStackOptions {
  /** `fast` (one pass per tile) or `exact` (the paper's per-patch definition). Default `fast`. */
  mode?: 'fast' | 'exact';
  /**
   * Largest network output per pass, px per side (default 520; the paper network then takes a
   * 762 px input). Larger tiles waste less on margins but need more memory (~7 GB at 520).
   */
  tile?: number;
  /**
   * Predict only this block of whole tiles (from {@link tileBlocks}); the maps returned are the
   * block's size. Default: the whole image.
   */
  block?: Rect;
  /**
   * When `stack` is only a window of the image (e.g. {@link blockInput}): the image's size and the
   * window's position in it. Default: the stack is the whole image.
   */
  image?: { width: number; height: number; x: number; y: number };
  /** Called after each network pass with (passes done, passes total). */
  onPass?: (done: number, total: number) => void;
}

/** Per-head maps of the requested statistics, each `height * width` float32, row-major. */
export type Prediction = Map<string, Map<Statistic, Float32Array>>;

/**
 * Predicts every pixel of an image (or of a block of it) from its transmitted-light z-stack.
 * @param stack canonical z-stack, float32 in [0, 1], any size (borders reflected); or a window of the image (`opts.image`).
 * @returns statistic maps per head (`model.heads`), the size of the image (or of `opts.block`).
 * @throws IslError BAD_OPTION for an invalid mode, tile size or block; BAD_INPUT when a window misses px the block needs.
 */
export async function predictStack(model: InferenceModel, stack: ZStack, opts: PredictStackOptions = {}): Promise<Prediction> {
  const mode = opts.mode ?? 'fast';
  if (mode !== 'fast' && mode !== 'exact') throw badOption('mode', 'fast or exact', mode);
  const src = opts.image ?? { width: stack.width, height: stack.height, x: 0, y: 0 };
  const { width: W, height: H } = src;
  const t = tiling(model.config, W, H, opts.tile ?? 520);
  const { rows: ty, cols: tx, margin } = t;
  const { config, stride } = model;
  const ow = config.outputWindow;
  const b = opts.block ?? { x: 0, y: 0, width: W, height: H };
  const aligned = (start: number, size: number, a: AxisTiles, n: number) =>
    size > 0 && a.origins.includes(start) && (start + size === n || a.origins.includes(start + size));
  if (!aligned(b.y, b.height, ty, H) || !aligned(b.x, b.width, tx, W)) throw badOption('block', `a rectangle of whole tiles (tile origins every ${ty.keep} x ${tx.keep} px)`, JSON.stringify(b));
  const originsY = ty.origins.filter((o) => o >= b.y && o < b.y + b.height);
  const originsX = tx.origins.filter((o) => o >= b.x && o < b.x + b.width);
  const phases = mode === 'exact' ? t.exactPhases : [0];
  const out: Prediction = new Map(model.heads.map((h) => [h, new Map(model.statistics.map((s) => [s, new Float32Array(b.width * b.height)]))]));
  const slots = slotPlanes(stack.depth, config.zSlots);
  const planes = [...new Set(slots)];
  const C = config.inputChannels;
  const Ly = ty.out + 2 * margin;
  const Lx = tx.out + 2 * margin;
  const input = new Float32Array(C * Ly * Lx);
  for (let s = 0; s < config.zSlots; s++) input.fill(1, (2 * s + 1) * Ly * Lx, (2 * s + 2) * Ly * Lx);
  const planeTile = new Float32Array(Ly * Lx);
  const rows = new Int32Array(Ly);
  const cols = new Int32Array(Lx);
  const SW = stack.width;
  // Image row/col -> index in the stack window, checked once per pass.
  const local = (i: number, n: number, at: number, size: number, what: string) => {
    const r = reflectIndex(i, n) - at;
    if (r < 0 || r >= size) throw badInput('stack', `the window (${what} ${at}..${at + size - 1}) misses ${what} ${r + at} that block ${JSON.stringify(b)} needs`);
    return r;
  };
  const total = originsY.length * originsX.length * phases.length ** 2;
  let done = 0;

  for (const oy of originsY)
    for (const ox of originsX) {
      const keepY = Math.min(ty.keep, H - oy);
      const keepX = Math.min(tx.keep, W - ox);
      for (const py of phases)
        for (const px of phases) {
          // Rows/cols of the image this pass owns: blocks whose patch offset has phase (py, px).
          const ownY = ownedOffsets(oy, keepY, ow, stride, py, mode);
          const ownX = ownedOffsets(ox, keepX, ow, stride, px, mode);
          if (ownY.length === 0 || ownX.length === 0) continue;
          for (let y = 0; y < Ly; y++) rows[y] = local(oy + py - margin + y, H, src.y, stack.height, 'row') * SW;
          for (let x = 0; x < Lx; x++) cols[x] = local(ox + px - margin + x, W, src.x, SW, 'column');
          for (const p of planes) {
            const base = p * SW * stack.height;
            for (let y = 0; y < Ly; y++) {
              const r = base + rows[y];
              const o = y * Lx;
              for (let x = 0; x < Lx; x++) planeTile[o + x] = stack.data[r + cols[x]];
            }
            slots.forEach((sp, s) => {
              if (sp === p) input.set(planeTile, 2 * s * Ly * Lx);
            });
          }
          const result = await model.session.run({ [model.session.inputNames[0]]: new ort.Tensor('float32', input, [1, C, Ly, Lx]) });
          for (const h of model.heads)
            for (const s of model.statistics) {
              const srcMap = result[onnxOutputName(h, s)].data as Float32Array;
              const dst = out.get(h)!.get(s)!;
              for (const r of ownY) {
                const so = (r - oy - py) * tx.out - ox - px;
                const d = (r - b.y) * b.width - b.x;
                for (const c of ownX) dst[d + c] = srcMap[so + c];
              }
            }
          for (const v of Object.values(result)) v.dispose();
          opts.onPass?.(++done, total);
        }
    }
  return out;
}

/**
 * Image offsets in [o, o + keep) that the pass with phase `phase` owns: all of them in fast mode;
 * in exact mode those whose outputWindow-block starts at a patch offset of that phase.
 */
function ownedOffsets(o: number, keep: number, ow: number, stride: number, phase: number, mode: 'fast' | 'exact'): number[] {
  const r: number[] = [];
  for (let y = o; y < o + keep; y++) if (mode === 'fast' || (Math.floor(y / ow) * ow) % stride === phase) r.push(y);
  return r;
}

/**
 * Multiply-accumulates of one fully convolutional pass of `plan`'s network on an `inputSize` px
 * square input. Spatial sizes are propagated op by op from the plan built at the config's own
 * input size (the network whose weights we have), so the count is valid for any pass size.
 */
export function passMacs(plan: Plan, inputSize: number): number {
  const size = new Map<string, number>([[plan.input, inputSize]]);
  let macs = 0;
  for (const op of plan.ops) {
    if (op.op === 'input') continue;
    const n = op.op === 'add' || op.op === 'concat' ? size.get(op.inputs[0])! : size.get(op.input)!;
    let out = n;
    if (op.op === 'conv') out = (n - (op.kernel - 1) * (op.dilation ?? 1) - 1) / op.stride + 1;
    else if (op.op === 'maxpool' || op.op === 'avgpool') out = (n - op.kernel) / op.stride + 1;
    else if (op.op === 'conv_transpose') out = (n - 1) * op.stride + op.kernel;
    else if (op.op === 'crop') out = n - 2 * op.crop;
    else if (op.op === 'upsample_nearest') out = n * op.factor;
    else if (op.op === 'pad_edge') out = n + 2 * op.pad;
    size.set(op.output, out);
    // Per-pixel cost is size-independent: scale the plan's count by the area ratio.
    if (op.op === 'conv') macs += (op.macs / (op.shape[0] * op.shape[1])) * out * out;
    else if (op.op === 'conv_transpose') macs += (op.macs / (((op.shape[0] - op.kernel) / op.stride + 1) ** 2)) * n * n;
  }
  return macs;
}

/** Releases the session's native memory. */
export async function closeInferenceModel(model: InferenceModel): Promise<void> {
  await model.session.release();
}
