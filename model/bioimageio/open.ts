/**
 * bioimage.io model packages as `predict --model`: ours (written by package.ts, recognised by
 * `config.isl`) and other tools' packages with ONNX weights and one 2-D `(batch, channel, y, x)`
 * input. Either becomes an {@link InferenceModel} that model/onnx/infer.ts tiles like our own
 * networks (onnx_graph.ts wraps the package's graph), so tiling, workers, blocks and the queue
 * are the same.
 *
 * Another tool's package:
 * - the well's z-planes are the input's C channels, one to one (a well with another number of
 *   planes fails with an error naming the package and the well: the network was trained on C
 *   planes), then the declared preprocessing runs on the whole well;
 * - valid input sizes `min + k * step` (step a power of two) or one fixed size; each output axis
 *   is the input's plus `offset`, minus its `halo` on both sides, so the tiles overlap by the
 *   network's margin `halo - offset / 2`;
 * - every output channel becomes a label (its channel name) with one value per pixel, reported
 *   as the statistic `mean` (a regression network's estimate; it has no distribution to take a
 *   median of).
 * Our own package's declared preprocessing is what `preprocess` already applied to canonical
 * wells, so it is not applied again, and its outputs are its labels' statistics.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { parse } from 'yaml';
import { badInput, badOption, IslError } from '../../core/errors.ts';
import type { ZStack } from '../../core/image.ts';
import { isModelPackage, openModelPackage, sha256, type ModelPackage } from '../../io/model_package.ts';
import { applyPreprocessing, type PreprocessingStep } from '../../transforms/preprocessing.ts';
import { onnxOutputName } from '../onnx/export.ts';
import { createInferenceModel, slotPlanes, type InferenceModel, type Statistic } from '../onnx/infer.ts';
import { readModelDir } from '../onnx/model_dir.ts';
import { outputStride, type ModelConfig } from '../plan.ts';
import { axisId, needsWholeSample, preprocessingSteps, type Axis, type ModelDescription, type TensorDescription } from './description.ts';
import { wrapForTiling, type TiledOutput } from './onnx_graph.ts';
import type { IslPackageConfig } from './package.ts';

/** What predict needs to know about a package before running it. */
export interface PackagePlan {
  /** The tiling geometry (for ours, the network's own config). */
  readonly config: ModelConfig;
  readonly heads: readonly string[];
  readonly statistics: readonly Statistic[];
  /** Declared preprocessing to apply to each well (none for ours). */
  readonly steps: readonly PreprocessingStep[];
  /** The preprocessing needs statistics of the whole well (so wells are not split into blocks). */
  readonly wholeImage: boolean;
  /** The only output side per pass of a fixed-size network (then `--tile` must equal it). */
  readonly fixedOutput?: number;
  readonly onnx: { source: string; sha256?: string };
  readonly channels: number;
  /** The z-planes a well must have: C for other tools' packages; none for ours (its z-slots take any depth). */
  readonly depth?: number;
  /** The description file (`PACKAGE:bioimageio.yaml`), for errors. */
  readonly file: string;
  readonly outputs: readonly TiledOutput[];
}

/** A package's network, ready for predictStack after {@link preparePackageStack}. */
export interface PackageModel extends InferenceModel {
  readonly plan: PackagePlan;
}

/**
 * Reads a package's description and checks that predict can run it.
 * @throws IslError BAD_INPUT naming the package file and what does not fit (no ONNX weights,
 *   several inputs, a 3-D or time input, unsupported pre- or postprocessing, sizes that do not tile).
 */
export async function readPackagePlan(path: string): Promise<{ pkg: ModelPackage; plan: PackagePlan }> {
  const pkg = await openModelPackage(path);
  const file = `${path}:${pkg.descriptionFile}`;
  let d: ModelDescription;
  try {
    d = parse(pkg.description) as ModelDescription;
  } catch (e) {
    throw badInput(file, `is not valid YAML (${(e as Error).message.split('\n')[0]})`, undefined, e);
  }
  const fail = (msg: string) => badInput(file, msg);
  if (!d || typeof d !== 'object') throw fail('is not a bioimage.io description');
  if (d.type !== 'model') throw fail(`describes a ${d.type ?? 'resource without type'}, not a model`);
  if (!/^0\.5\./.test(String(d.format_version))) throw fail(`has format_version ${d.format_version}; predict reads bioimage.io 0.5 descriptions (bioimageio.spec converts older ones)`);
  const onnx = d.weights?.onnx;
  if (!onnx) throw fail(`has no onnx weights (it has ${Object.keys(d.weights ?? {}).join(', ') || 'none'}); predict runs ONNX weights only (bioimageio.core can convert pytorch_state_dict or torchscript to onnx)`);
  if (onnx.external_data) throw fail('keeps its ONNX weights in external data; predict reads self-contained ONNX models only');
  if (!Array.isArray(d.inputs) || d.inputs.length !== 1) throw fail(`has ${d.inputs?.length ?? 0} inputs; predict feeds models with one input`);
  if (!Array.isArray(d.outputs) || d.outputs.length === 0) throw fail('has no outputs');
  const input = d.inputs[0];
  const types = input.axes.map((a) => a.type);
  const spaces = input.axes.filter((a) => a.type === 'space').map(axisId);
  if (spaces.length === 3) throw fail(`input ${input.id} is 3-D (space axes ${spaces.join(', ')}); predict runs 2-D (batch, channel, y, x) networks on z-stacks`);
  if (types.join() !== 'batch,channel,space,space') throw fail(`input ${input.id} has axes (${input.axes.map((a) => `${axisId(a)}: ${a.type}`).join(', ')}); predict needs (batch, channel, y, x)`);
  if ((input.data?.type ?? 'float32') !== 'float32') throw fail(`input ${input.id} is ${input.data?.type}; predict feeds float32`);
  const channels = input.axes[1].channel_names?.length ?? 0;
  if (channels < 1) throw fail(`input ${input.id}'s channel axis has no channel_names`);
  const [, , yAxis, xAxis] = input.axes;
  const isl = (d.config?.isl as IslPackageConfig | undefined) ?? undefined;

  const ySize = inputSize(yAxis, input, file);
  const xSize = inputSize(xAxis, input, file);
  if (ySize.min !== xSize.min || ySize.step !== xSize.step) throw fail(`input ${input.id} accepts y = ${ySize.min} + k * ${ySize.step} but x = ${xSize.min} + k * ${xSize.step}; predict tiles square passes`);
  const { min, step } = ySize;
  if (step !== 0 && (step & (step - 1)) !== 0) throw fail(`input ${input.id}'s size step ${step} is not a power of two; predict tiles in power-of-two steps`);

  const margins = new Set<number>();
  const outputs: TiledOutput[] = [];
  const heads: string[] = [];
  const statistics = new Set<Statistic>();
  d.outputs.forEach((out, index) => {
    const oTypes = out.axes.map((a) => a.type);
    const hasChannel = oTypes.join() === 'batch,channel,space,space';
    if (!hasChannel && oTypes.join() !== 'batch,space,space') throw fail(`output ${out.id} has axes (${out.axes.map((a) => a.type).join(', ')}); predict needs (batch, channel, y, x) or (batch, y, x)`);
    if ((out.data?.type ?? 'float32') !== 'float32') throw fail(`output ${out.id} is ${out.data?.type}; predict reads float32 outputs`);
    const [oy, ox] = out.axes.filter((a) => a.type === 'space');
    for (const [a, ref] of [[oy, yAxis], [ox, xAxis]] as const) margins.add(outputMargin(a, ref, input, out, file));
    let sigmoid = false;
    for (const p of out.postprocessing ?? []) {
      if (p.id === 'sigmoid' && !sigmoid) sigmoid = true;
      else if (!(p.id === 'ensure_dtype' && p.kwargs?.dtype === 'float32')) throw fail(`outputs[${out.id}].postprocessing: ${p.id} is not supported; predict implements sigmoid and ensure_dtype float32`);
    }
    const channelNames = hasChannel ? (out.axes[1].channel_names ?? []) : [out.id];
    if (channelNames.length === 0) throw fail(`output ${out.id}'s channel axis has no channel_names`);
    const names: string[] = [];
    for (const c of channelNames) {
      const own = isl?.outputs.find((o) => o.id === out.id);
      if (isl && !own) throw fail(`output ${out.id} is not listed in config.isl.outputs`);
      const head = own ? own.label : c.replace(/[^A-Za-z0-9_]/g, '_');
      const stat: Statistic = own ? own.statistic : 'mean';
      if (!heads.includes(head)) heads.push(head);
      statistics.add(stat);
      names.push(onnxOutputName(head, stat));
    }
    outputs.push({ index, channelAxis: hasChannel, names, sigmoid, crop: oy.halo ?? 0 });
  });
  const wrapped = outputs.flatMap((o) => o.names);
  if (new Set(wrapped).size !== wrapped.length) throw fail(`two outputs name the same label (${wrapped.join(', ')}); predict writes one image per label`);
  if (margins.size !== 1) throw fail(`outputs lose different margins (${[...margins].join(', ')} px per side); predict tiles with one margin`);
  const margin = [...margins][0];
  const outputWindow = min - 2 * margin;
  if (outputWindow < 1) throw fail(`the smallest input (${min} px) leaves no output after a margin of ${margin} px per side`);

  const steps = isl ? [] : preprocessingSteps(input, file);
  const config: ModelConfig = isl
    ? isl.network
    : {
        // Only the tiling geometry is meaningful: the package's graph is the network.
        name: `bioimageio:${d.name}`,
        inputSize: min,
        outputWindow,
        zSlots: channels,
        inputChannels: 2 * channels,
        projectionDepth: 0,
        towers: [{ crop: min, scale: step === 0 ? 0 : Math.log2(step) }],
        towerBlocks: 0,
        upperBlocks: 0,
        baseDepth: 0,
        upBaseDepth: 0,
        bins: 256,
        heads: { autoencoding: 0, labels: heads },
        bnEpsilon: 0,
        bnMomentum: 0,
      };
  if (isl && (outputStride(config) !== (step || 1) || config.inputSize - config.outputWindow !== 2 * margin)) throw fail('config.isl.network does not match the sizes its inputs and outputs declare');
  return {
    pkg,
    plan: {
      config,
      heads,
      statistics: [...statistics],
      steps,
      wholeImage: needsWholeSample(steps),
      fixedOutput: step === 0 ? outputWindow : undefined,
      onnx: { source: onnx.source, sha256: onnx.sha256 },
      channels,
      depth: isl ? undefined : channels,
      file,
      outputs,
    },
  };
}

/** Sizes a spatial input axis accepts, as min + k * step (step 0: fixed). */
function inputSize(a: Axis, input: TensorDescription, file: string): { min: number; step: number } {
  const s = a.size;
  if (typeof s === 'number') return { min: s, step: 0 };
  if (s && typeof s === 'object' && 'min' in s) return { min: s.min, step: s.step };
  if (s && typeof s === 'object' && 'tensor_id' in s && s.tensor_id === input.id && !s.offset) {
    const ref = input.axes.find((b) => axisId(b) === s.axis_id && b !== a);
    const r = ref && (ref.scale ?? 1) === (a.scale ?? 1) ? ref.size : undefined;
    if (typeof r === 'number') return { min: r, step: 0 };
    if (r && 'min' in r) return { min: r.min, step: r.step };
  }
  throw badInput(file, `input ${input.id} axis ${axisId(a)} has size ${JSON.stringify(s)}; predict needs a fixed size, min + k * step, or the other spatial axis's size`);
}

/** Px per side an output axis loses against its input axis: halo - offset / 2. */
function outputMargin(a: Axis, ref: Axis, input: TensorDescription, out: TensorDescription, file: string): number {
  const halo = a.halo ?? 0;
  const s = a.size;
  let offset: number;
  if (typeof s === 'number' && typeof ref.size === 'number') offset = s - ref.size;
  else if (s && typeof s === 'object' && 'tensor_id' in s && s.tensor_id === input.id && s.axis_id === axisId(ref) && (a.scale ?? 1) === (ref.scale ?? 1)) offset = s.offset ?? 0;
  else throw badInput(file, `output ${out.id} axis ${axisId(a)} has size ${JSON.stringify(s)}; predict needs the same-scale size of input ${input.id} axis ${axisId(ref)} (plus an offset)`);
  const margin = halo - offset / 2;
  if (!Number.isInteger(margin) || margin < 0) throw badInput(file, `output ${out.id} axis ${axisId(a)} (offset ${offset}, halo ${halo}) is not the input minus a whole margin per side; predict cannot place it`);
  if (out.axes.filter((b) => b.type === 'space').some((b) => (b.halo ?? 0) !== halo)) throw badInput(file, `output ${out.id} has different halos on its axes`);
  return margin;
}

/**
 * The package's ONNX weights, checked against the sha256 its description records.
 * @throws IslError BAD_INPUT naming the weights file when it is missing or its hash differs.
 */
async function onnxWeights(pkg: ModelPackage, plan: PackagePlan): Promise<{ file: string; bytes: Uint8Array }> {
  const file = `${pkg.path}:${plan.onnx.source}`;
  const bytes = await pkg.read(plan.onnx.source);
  const actual = sha256(bytes);
  if (plan.onnx.sha256 && actual !== plan.onnx.sha256.toLowerCase()) throw badInput(file, `has sha256 ${actual} but ${pkg.descriptionFile} records ${plan.onnx.sha256} (corrupt or replaced weights)`);
  return { file, bytes };
}

/** Options of {@link openPackageModel}. */
export interface OpenPackageOptions {
  heads?: readonly string[];
  statistics: readonly Statistic[];
  threads?: number;
  providers?: readonly string[];
  /** The run's `--tile` (checked against a fixed-size network's only output size). */
  tile: number;
}

/**
 * Checks a run's labels, statistics and tile size against a package's plan.
 * @throws IslError BAD_OPTION naming the flag and what the package offers.
 */
export function checkPackageRequest(plan: PackagePlan, opts: { heads?: readonly string[]; statistics: readonly Statistic[]; tile: number }): void {
  for (const h of opts.heads ?? []) if (!plan.heads.includes(h)) throw badOption('labels', `labels of the package (${plan.heads.join(', ')})`, h);
  for (const s of opts.statistics)
    if (!plan.statistics.includes(s)) throw badOption('stats', `statistics the package outputs (${plan.statistics.join(', ')}${plan.statistics.join() === 'mean' ? ': its network gives one value per pixel' : ''})`, s);
  if (plan.fixedOutput !== undefined && opts.tile !== plan.fixedOutput) throw badOption('tile', `${plan.fixedOutput} (the package's network accepts one input size, ${plan.config.inputSize} px, giving ${plan.fixedOutput} px of valid output)`, opts.tile);
}

/**
 * Opens a package for predictStack: reads and checks its ONNX weights (sha256), wraps the graph
 * and starts an ONNX Runtime session.
 * @throws IslError BAD_INPUT for a package predict cannot run, BAD_OPTION for a request it does not offer.
 */
export async function openPackageModel(path: string, opts: OpenPackageOptions): Promise<PackageModel> {
  const { pkg, plan } = await readPackagePlan(path);
  checkPackageRequest(plan, opts);
  const heads = opts.heads ?? plan.heads;
  const { file, bytes } = await onnxWeights(pkg, plan);
  const wanted = new Set(heads.flatMap((h) => opts.statistics.map((s) => onnxOutputName(h, s))));
  const outputs = plan.outputs
    .map((o) => ({ ...o, names: o.names.map((n) => (wanted.has(n) ? n : '')) }))
    .filter((o) => o.names.some(Boolean))
    .map((o) => ({ ...o, names: o.names.map((n, c) => n || `unused/${o.index}/${c}`) }));
  const graph = wrapForTiling(bytes, file, plan.channels, outputs);
  const threads = opts.threads ?? availableParallelism();
  const { session, provider } = await startSession(graph, threads, opts.providers ?? ['cpu'], file);
  const { config } = plan;
  return { config, heads, statistics: opts.statistics, margin: (config.inputSize - config.outputWindow) / 2, stride: outputStride(config), session, threads, provider, plan };
}

/**
 * The well's stack as the package's input: its C channels filled from the planes, then the declared preprocessing.
 * @param well the well's name and folder, for errors.
 * @throws IslError BAD_INPUT naming the package's description and the well when the well's z-planes are not the package's channels.
 */
export function preparePackageStack(model: InferenceModel, stack: ZStack, well: { name: string; source: string }): ZStack {
  const plan = (model as Partial<PackageModel>).plan;
  if (plan?.depth !== undefined && stack.depth !== plan.depth)
    throw badInput(plan.file, `the package's input takes ${plan.depth} channels (z-planes) but well ${well.name} (${well.source}) has ${stack.depth} z-planes; predict feeds one plane per channel`, well.name);
  // Without preprocessing predictStack fills the channels itself (config.zSlots = C).
  if (!plan || plan.steps.length === 0) return stack;
  const n = stack.width * stack.height;
  const data = new Float32Array(plan.channels * n);
  slotPlanes(stack.depth, plan.channels).forEach((p, c) => data.set(stack.data.subarray(p * n, (p + 1) * n), c * n));
  const out = applyPreprocessing({ channels: plan.channels, height: stack.height, width: stack.width, data }, plan.steps);
  return { width: stack.width, height: stack.height, depth: plan.channels, data: out.data };
}

async function startSession(bytes: Uint8Array, threads: number, providers: readonly string[], file: string): Promise<{ session: ort.InferenceSession; provider: string }> {
  const failures: string[] = [];
  for (const provider of providers) {
    try {
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: [provider],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: '0' }, set_denormal_as_zero: '1' } },
      });
      return { session, provider };
    } catch (e) {
      failures.push(`${provider}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw new IslError('BAD_INPUT', `ONNX Runtime cannot run the package's network (${failures.join('; ')})`, { file });
}

/** What `predict --model PATH` needs before any worker starts: a checkpoint folder or a package. */
export interface ModelSourceInfo {
  readonly config: ModelConfig;
  /** Wells must be predicted whole (the package's preprocessing takes statistics of the whole well). */
  readonly wholeImage: boolean;
}

/**
 * Describes `path` (a checkpoint directory or a bioimage.io package zip/folder) and, for a
 * package, checks the run's labels, statistics and tile against it.
 * @throws IslError BAD_INPUT for a bad model, BAD_OPTION for a request a package does not offer.
 */
export async function describeModel(path: string, request: { heads?: readonly string[]; statistics: readonly Statistic[]; tile: number }): Promise<ModelSourceInfo> {
  if (!isModelPackage(path)) return { config: (await readModelDir(path)).config, wholeImage: false };
  const { pkg, plan } = await readPackagePlan(path);
  checkPackageRequest(plan, request);
  await onnxWeights(pkg, plan); // before any worker starts, not once per well
  return { config: plan.config, wholeImage: plan.wholeImage };
}

/** An inference session for `path`: a checkpoint directory (model/onnx) or a bioimage.io package. */
export async function openModel(path: string, opts: OpenPackageOptions): Promise<InferenceModel> {
  if (isModelPackage(path)) return openPackageModel(path, opts);
  const { config, weights } = await readModelDir(path);
  return createInferenceModel(config, weights, { heads: opts.heads ?? config.heads.labels, statistics: opts.statistics, threads: opts.threads, providers: opts.providers });
}
