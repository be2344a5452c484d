/**
 * The part of the bioimage.io model description format 0.5 (`bioimageio.yaml`; normative text:
 * `model_v0_5.py` of bioimage-io/spec-bioimage-io) that we write and read, as TypeScript types,
 * and the translation of an input's declared preprocessing into transforms/preprocessing.ts steps.
 */
import { IslError } from '../../core/errors.ts';
import type { PreprocessingStep, Reduce } from '../../transforms/preprocessing.ts';

/** The format version we write (the one `model_v0_5.py` implements). */
export const FORMAT_VERSION = '0.5.7';
/** The paper every ISL package cites. */
export const PAPER = {
  text: 'Christiansen EM, Yang SJ, Ando DM, et al. In silico labeling: predicting fluorescent labels in unlabeled images. Cell 173(3):792-803.e19, 2018.',
  doi: '10.1016/j.cell.2018.03.040',
} as const;

export interface ParameterizedSize {
  min: number;
  step: number;
}
export interface SizeReference {
  tensor_id: string;
  axis_id: string;
  offset?: number;
}
export type AxisSize = number | ParameterizedSize | SizeReference;

export interface Axis {
  type: 'batch' | 'channel' | 'index' | 'time' | 'space';
  id?: string;
  size?: AxisSize;
  channel_names?: string[];
  halo?: number;
  scale?: number;
  unit?: string;
  description?: string;
}

export interface FileRef {
  source: string;
  sha256?: string;
}

export interface Processing {
  id: string;
  kwargs?: Record<string, unknown>;
}

export interface TensorDescription {
  id: string;
  description?: string;
  axes: Axis[];
  test_tensor?: FileRef;
  data?: { type?: string; range?: [number | null, number | null]; unit?: string };
  preprocessing?: Processing[];
  postprocessing?: Processing[];
}

export interface WeightsEntry extends FileRef {
  opset_version?: number;
  parent?: string;
  external_data?: FileRef;
  authors?: { name: string }[];
}

export interface ModelDescription {
  format_version: string;
  type: string;
  name: string;
  description: string;
  authors: { name: string; affiliation?: string; orcid?: string; github_user?: string }[];
  cite: { text: string; doi?: string; url?: string }[];
  license: string;
  documentation?: string;
  covers?: string[];
  tags?: string[];
  timestamp?: string;
  git_repo?: string;
  inputs: TensorDescription[];
  outputs: TensorDescription[];
  weights: Record<string, WeightsEntry | undefined>;
  config?: Record<string, unknown>;
}

/** The axis id the spec gives an axis without one (`model_v0_5.py`: batch, channel, index, time, x). */
export function axisId(a: Axis): string {
  return a.id ?? (a.type === 'space' ? 'x' : a.type);
}

/**
 * The declared preprocessing of `input` (a `(batch, channel, y, x)` tensor) as steps over its
 * `[channel, y, x]` sample. `ensure_dtype` to float32 is a no-op (samples are float32).
 * @throws IslError BAD_INPUT naming `file` and the step for anything else (unknown ids,
 *   percentile clipping, statistics of another tensor, steps along another axis than channel).
 */
export function preprocessingSteps(input: TensorDescription, file: string): PreprocessingStep[] {
  const [, channel, y, x] = input.axes.map(axisId);
  const where = `inputs[${input.id}].preprocessing`;
  const unsupported = (p: Processing, why: string) => new IslError('BAD_INPUT', `${where}: ${p.id} ${why}; predict implements scale_linear, fixed_zero_mean_unit_variance, zero_mean_unit_variance, scale_range, clip, sigmoid and ensure_dtype float32`, { file });
  const reduceOf = (p: Processing): Reduce => {
    const axes = p.kwargs?.axes as string[] | undefined;
    if (axes === undefined || axes === null) return [true, true, true];
    const known = new Set(['batch', channel, y, x]);
    for (const a of axes) if (!known.has(a)) throw unsupported(p, `names axis ${a}, which the input does not have`);
    return [axes.includes(channel), axes.includes(y), axes.includes(x)];
  };
  const alongChannel = (p: Processing) => {
    const axis = p.kwargs?.axis as string | undefined;
    if (axis !== undefined && axis !== channel) throw unsupported(p, `along axis ${axis} (only along the channel axis ${channel})`);
  };
  const num = (p: Processing, k: string, dflt?: number): number => {
    const v = p.kwargs?.[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw unsupported(p, `needs a number for ${k} (got ${JSON.stringify(v)})`);
    return v;
  };
  const nums = (p: Processing, k: string, dflt?: number): number | number[] => {
    const v = p.kwargs?.[k] ?? dflt;
    if (Array.isArray(v) && v.every((e) => typeof e === 'number')) return v as number[];
    return num(p, k, dflt);
  };
  const steps: PreprocessingStep[] = [];
  for (const p of input.preprocessing ?? []) {
    if (p.kwargs?.reference_tensor !== undefined && p.kwargs.reference_tensor !== input.id) throw unsupported(p, `takes its statistics from tensor ${String(p.kwargs.reference_tensor)}`);
    switch (p.id) {
      case 'ensure_dtype':
        if (p.kwargs?.dtype !== 'float32') throw unsupported(p, `to ${String(p.kwargs?.dtype)} (only float32)`);
        break;
      case 'scale_linear':
        alongChannel(p);
        steps.push({ id: 'scale_linear', gain: nums(p, 'gain', 1), offset: nums(p, 'offset', 0) });
        break;
      case 'fixed_zero_mean_unit_variance':
        alongChannel(p);
        steps.push({ id: 'fixed_zero_mean_unit_variance', mean: nums(p, 'mean'), std: nums(p, 'std'), eps: num(p, 'eps', 1e-6) });
        break;
      case 'zero_mean_unit_variance':
        steps.push({ id: 'zero_mean_unit_variance', reduce: reduceOf(p), eps: num(p, 'eps', 1e-6) });
        break;
      case 'scale_range':
        steps.push({ id: 'scale_range', reduce: reduceOf(p), minPercentile: num(p, 'min_percentile', 0), maxPercentile: num(p, 'max_percentile', 100), eps: num(p, 'eps', 1e-6) });
        break;
      case 'clip':
        if (p.kwargs?.min_percentile !== undefined || p.kwargs?.max_percentile !== undefined) throw unsupported(p, 'with percentiles');
        steps.push({ id: 'clip', min: p.kwargs?.min === undefined ? undefined : num(p, 'min'), max: p.kwargs?.max === undefined ? undefined : num(p, 'max') });
        break;
      case 'sigmoid':
        steps.push({ id: 'sigmoid' });
        break;
      default:
        throw unsupported(p, 'is not supported');
    }
  }
  return steps;
}

/** True when a step's statistics depend on the whole sample (so a block of an image cannot be preprocessed alone). */
export function needsWholeSample(steps: readonly PreprocessingStep[]): boolean {
  return steps.some((s) => s.id === 'zero_mean_unit_variance' || s.id === 'scale_range');
}
