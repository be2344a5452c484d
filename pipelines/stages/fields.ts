/**
 * Stages whose correction needs a field estimated over many images: fluorescence dust, flat-field,
 * transmitted dust. Each is one stage in the graph with two faces:
 *
 *   estimate pass:  source ─► stages before it ─► [this stage as a sink: streaming estimator]
 *   apply (per well): ... ─► [this stage as a map: correct each tile with the saved field] ─► ...
 *
 * pipelines/preprocess.ts runs one estimation pass per such stage, in graph order, and saves the
 * fields (float32 TIFF) under OUT/fields/ so per-well jobs, reruns and people can load them.
 */
import { join } from 'node:path';
import { z } from 'zod';
import type { Plane } from '../../core/image.ts';
import { IslError } from '../../core/errors.ts';
import { writeTiff } from '../../io/write.ts';
import { writeFileAtomic } from '../../io/atomic.ts';
import { FlatFieldEstimator, correctFlatField } from '../../transforms/flat_field.ts';
import { FluorescenceDustEstimator, subtractDust } from '../../transforms/fluorescence_dust.ts';
import { TransmittedDustEstimator, correctTransmittedDust } from '../../transforms/transmitted_dust.ts';
import type { Modality } from '../../transforms/normalize.ts';
import type { StageImpl, StageKind } from '../graph.ts';
import { timed, type FieldSet, type PreprocessContext, type TileItem } from './items.ts';
import { preprocessOut } from '../../io/out_layout.ts';

/** What an estimated-field stage kind provides. */
interface FieldKindSpec<P, R extends object> {
  id: string;
  params: z.ZodType<P>;
  /** Modalities it applies to (`all` for both). */
  appliesTo: (p: P) => Modality | 'all';
  trainingOnly?: boolean;
  /** A fresh estimator for one channel. */
  estimator(p: P, ctx: PreprocessContext, modality: Modality): { add(plane: Plane<'float32'>, source?: string): boolean; finish(): R };
  /** The planes of a finished estimate to save and apply: first is the field, others are extra artifacts. */
  planes(result: R): Record<string, Plane>;
  apply(tile: Plane<'float32'>, field: Plane<'float32'>, p: P): Plane<'float32'>;
}

/** A stage kind that estimates in estimate passes and applies in per-well runs. */
export interface FieldStageKind<P = any> extends StageKind<P, PreprocessContext> {
  readonly estimated: true;
  readonly trainingOnly: boolean;
  /** Which tiles it corrects. */
  readonly appliesTo: (params: P) => Modality | 'all';
}

/** Path of an estimated plane under OUT/fields. */
export function fieldPath(output: string, stage: string, channel: string, what = 'field'): string {
  return preprocessOut.fieldImage(output, stage, channel, what);
}

function fieldKind<P, R extends object>(spec: FieldKindSpec<P, R>): FieldStageKind<P> {
  return {
    id: spec.id,
    params: spec.params,
    estimated: true,
    trainingOnly: spec.trainingOnly ?? false,
    appliesTo: spec.appliesTo,
    create(p, ctx, name): StageImpl {
      const applies = (t: TileItem) => spec.appliesTo(p) === 'all' || spec.appliesTo(p) === t.modality;
      if (ctx.estimating === name) {
        const estimators = new Map<string, ReturnType<FieldKindSpec<P, R>['estimator']>>();
        return {
          type: 'sink',
          write: (t: TileItem) => {
            if (!applies(t)) return;
            let e = estimators.get(t.channel);
            if (!e) estimators.set(t.channel, (e = spec.estimator(p, ctx, t.modality)));
            return timed(ctx, name, () => void e!.add(t.plane, t.path));
          },
          final: () =>
            timed(ctx, name, async () => {
              const set: FieldSet = { fields: new Map(), info: new Map() };
              for (const [channel, e] of estimators) {
                let result: R;
                try {
                  result = e.finish();
                } catch (err) {
                  throw new IslError('BAD_INPUT', `cannot estimate ${name} for channel ${channel}: ${(err as Error).message}`, { stage: name, cause: err });
                }
                const planes = spec.planes(result);
                for (const [what, pl] of Object.entries(planes)) await writeTiff(fieldPath(ctx.output, name, channel, what), pl, { compression: 'deflate' });
                set.fields.set(channel, planes.field as Plane<'float32'>);
                const info = Object.fromEntries(Object.entries(result).filter(([, v]) => typeof v === 'number' || typeof v === 'string'));
                set.info.set(channel, info);
              }
              ctx.fields.set(name, set);
              await writeFileAtomic(preprocessOut.fieldInfo(ctx.output, name), JSON.stringify({ stage: name, kind: spec.id, params: p, channels: Object.fromEntries(set.info) }, null, 2));
            }),
        };
      }
      return {
        type: 'map',
        map: (t: TileItem) => {
          if (!applies(t)) return t;
          const field = ctx.fields.get(name)?.fields.get(t.channel);
          if (!field) throw new IslError('BAD_INPUT', `no ${name} field was estimated for channel ${t.channel}`, { stage: name, file: t.path });
          return timed(ctx, name, () => ({ ...t, plane: spec.apply(t.plane, field, p) }));
        },
      };
    },
  };
}

const Clip = z.tuple([z.number(), z.number()]).default([0, 65535]);

/** Fluorescence dust (additive): the paper's mean/min-projection estimate, subtracted (training only). */
export const fluorescenceDust = fieldKind({
  id: 'isl:transform:fluorescence_dust:v1',
  params: z.object({ threshold: z.number().positive().default(6), dilate: z.number().int().min(0).default(1), minImages: z.number().int().min(1).default(2) }).strict(),
  appliesTo: () => 'fluorescence',
  trainingOnly: true,
  estimator: (p, ctx) => new FluorescenceDustEstimator({ sensorOffset: ctx.dump?.config.sensorOffset, threshold: p.threshold, dilate: p.dilate, minImages: p.minImages }),
  planes: (r) => ({ field: r.artifact, mask: r.mask }),
  apply: (tile, artifact) => subtractDust(tile, artifact),
});

/**
 * Flat-field: per-pixel median of a channel's tiles, blurred (sigma H/16 fluorescence, H/32
 * transmitted), divided out. `selectBackground` (default: fluorescence only) keeps the tiles
 * whose ratio to the field is flat, rejecting tissue-covered ones (transforms/flat_field.ts);
 * `images` and `rejected` per channel go to OUT/fields/<stage>.json.
 */
export const flatField = fieldKind({
  id: 'isl:transform:flat_field:v1',
  params: z.object({
    sigma: z.number().positive().optional(),
    minImages: z.number().int().min(1).default(2),
    clip: Clip,
    selectBackground: z.enum(['fluorescence', 'all', 'none']).default('fluorescence'),
    minSeparation: z.number().min(1).default(1.5),
  }).strict(),
  appliesTo: () => 'all',
  estimator: (p, _ctx, modality) =>
    new FlatFieldEstimator({ modality, sigma: p.sigma, minImages: p.minImages, selectBackground: p.selectBackground === 'all' || p.selectBackground === modality, minSeparation: p.minSeparation }),
  planes: (r) => ({ field: r.field }),
  apply: (tile, field, p) => correctFlatField(tile, field, { clip: p.clip }),
});

/** Transmitted-light dust (multiplicative): per-pixel median of the channel's images, no blur, divided out. */
export const transmittedDust = fieldKind({
  id: 'isl:transform:transmitted_dust:v1',
  params: z.object({ minImages: z.number().int().min(1).default(2), clip: Clip }).strict(),
  appliesTo: () => 'transmitted',
  estimator: (p) => new TransmittedDustEstimator({ minImages: p.minImages }),
  planes: (r) => ({ field: r.field }),
  apply: (tile, field, p) => correctTransmittedDust(tile, field, { clip: p.clip }),
});
