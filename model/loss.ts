/**
 * The ISL loss: each head predicts a 256-bin distribution of the 8-bit intensity per pixel;
 * targets in [0, 1] are discretised to round(v * 255). Per head, softmax cross-entropy averaged
 * over the pixels present in the head's mask and divided by ln(256), so a uniform predictor
 * scores exactly 1.0. Total = 0.5 * mean(autoencoding heads) + 0.5 * mean(label heads), each
 * mean over the heads with any present pixel in the batch (a group with none drops out and the
 * other gets weight 1).
 */
import * as tf from '@tensorflow/tfjs';
import type { HeadSpec } from './plan.ts';

/** Target of one head for a batch: values and presence, both `[batch, size, size]` flattened. */
export interface HeadTarget {
  /** Intensities in [0, 1] (clipped), `batch * size * size` values. */
  values: Float32Array;
  /** 1 where the pixel has a target, 0 where absent; same length. */
  mask: Uint8Array;
}

/** Bin of each target value: round(v * (bins - 1)) clipped to [0, bins - 1]. */
export function discretize(values: Float32Array, bins: number): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const b = Math.round(values[i] * (bins - 1));
    out[i] = b < 0 ? 0 : b > bins - 1 ? bins - 1 : Number.isNaN(b) ? 0 : b;
  }
  return out;
}

/**
 * Masked cross-entropy of one head in units of ln(bins).
 * @param logits `[batch, h, w, bins]`.
 * @returns a scalar tensor, or null when the mask has no present pixel.
 */
export function headLoss(logits: tf.Tensor4D, target: HeadTarget): tf.Scalar | null {
  const [n, h, w, bins] = logits.shape;
  const count = n * h * w;
  if (target.values.length !== count || target.mask.length !== count) {
    throw new Error(`target has ${target.values.length} values and ${target.mask.length} mask entries; the logits need ${count}`);
  }
  let present = 0;
  for (let i = 0; i < count; i++) present += target.mask[i] ? 1 : 0;
  if (present === 0) return null;
  return tf.tidy(() => {
    const flat = tf.reshape(logits, [count, bins]);
    const logp = tf.logSoftmax(flat);
    const onehot = tf.oneHot(tf.tensor1d(discretize(target.values, bins), 'int32'), bins);
    const nll = tf.neg(tf.sum(tf.mul(logp, onehot), 1));
    const maskT = tf.tensor1d(Float32Array.from(target.mask, (m) => (m ? 1 : 0)));
    return tf.div(tf.sum(tf.mul(nll, maskT)), present * Math.log(bins)) as tf.Scalar;
  });
}

/** Loss terms of a batch: the total (to minimise) and each head's value. */
export interface LossTerms {
  total: tf.Scalar;
  perHead: Map<string, tf.Scalar>;
}

/**
 * Total loss over heads.
 * @throws Error when no head has any present pixel.
 */
export function islLoss(heads: HeadSpec[], logits: Map<string, tf.Tensor4D>, targets: Map<string, HeadTarget>): LossTerms {
  const perHead = new Map<string, tf.Scalar>();
  const groups: Record<HeadSpec['kind'], tf.Scalar[]> = { autoencoding: [], label: [] };
  for (const h of heads) {
    const t = targets.get(h.name);
    const l = logits.get(h.name);
    if (!t || !l) continue;
    const v = headLoss(l, t);
    if (!v) continue;
    perHead.set(h.name, v);
    groups[h.kind].push(v);
  }
  const means = [groups.autoencoding, groups.label].filter((g) => g.length > 0).map((g) => tf.div(tf.addN(g), g.length));
  if (means.length === 0) throw new Error('no head has a present target pixel in this batch');
  const total = (means.length === 2 ? tf.mul(tf.addN(means), 0.5) : means[0]) as tf.Scalar;
  return { total, perHead };
}
