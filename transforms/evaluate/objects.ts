/**
 * Object-level evaluation, the paper's manual nuclear annotation automated: true and predicted
 * nuclei are matched by maximum overlap and each disagreement is classified as a split, merge,
 * addition or miss (Christiansen et al., Cell 2018, Figure 4 and STAR Methods).
 */
import { IslError } from '../../core/errors.ts';
import type { Labels } from './components.ts';

/** Error counts and accuracy of predicted objects against true objects. */
export interface ObjectMatch {
  /** Number of true objects (with at least one pixel in the image). */
  readonly trueObjects: number;
  /** Number of predicted objects. */
  readonly predictedObjects: number;
  /** True objects matched one-to-one (each is the other's maximum overlap, and neither is split or merged). */
  readonly matched: number;
  /** True objects that are the maximum-overlap match of two or more predicted objects. */
  readonly split: number;
  /** Predicted objects that are the maximum-overlap match of two or more true objects. */
  readonly merged: number;
  /** Predicted objects that overlap no true object. */
  readonly added: number;
  /** True objects that overlap no predicted object. */
  readonly missed: number;
  /** split + merged + added + missed. */
  readonly errors: number;
  /** (trueObjects - errors) / trueObjects; NaN when there is no true object. Can be negative when predictions add many objects. */
  readonly accuracy: number;
}

/**
 * Matches predicted objects to true objects by maximum overlap and classifies the errors.
 *
 * Each object's match is the object of the other image it shares the most pixels with (ties go
 * to the lower label). Then: a true object with no overlapping prediction is **missed**; a
 * predicted object overlapping no true object is **added**; a true object chosen as the match by
 * k >= 2 predicted objects is one **split**; a predicted object chosen by k >= 2 true objects is
 * one **merge**. Each event counts as one error, as an annotator marking nuclei would count it,
 * and accuracy = (true objects - errors) / true objects. Labels without a pixel in the image
 * (e.g. listed cells outside it) are ignored.
 *
 * @param truth labels of the true nuclei.
 * @param pred labels of the predicted nuclei, same shape.
 * @returns counts and accuracy.
 * @throws IslError BAD_INPUT when the shapes differ.
 */
export function matchObjects(truth: Labels, pred: Labels): ObjectMatch {
  if (truth.width !== pred.width || truth.height !== pred.height) {
    throw new IslError('BAD_INPUT', `Expected predicted labels to be ${truth.width}x${truth.height} like the true labels but they are ${pred.width}x${pred.height}`);
  }
  const nt = truth.count;
  const np = pred.count;
  // Sparse overlap counts: key = t * (np + 1) + p.
  const overlap = new Map<number, number>();
  for (let i = 0; i < truth.data.length; i++) {
    const t = truth.data[i];
    const p = pred.data[i];
    if (t && p) {
      const key = t * (np + 1) + p;
      overlap.set(key, (overlap.get(key) ?? 0) + 1);
    }
  }
  const bestForTrue = new Int32Array(nt + 1);
  const bestTrueArea = new Int32Array(nt + 1);
  const bestForPred = new Int32Array(np + 1);
  const bestPredArea = new Int32Array(np + 1);
  const keys = [...overlap.keys()].sort((a, b) => a - b);
  for (const key of keys) {
    const c = overlap.get(key)!;
    const t = Math.floor(key / (np + 1));
    const p = key % (np + 1);
    if (c > bestTrueArea[t] || (c === bestTrueArea[t] && p < bestForTrue[t])) {
      bestTrueArea[t] = c;
      bestForTrue[t] = p;
    }
    if (c > bestPredArea[p] || (c === bestPredArea[p] && t < bestForPred[p])) {
      bestPredArea[p] = c;
      bestForPred[p] = t;
    }
  }
  // Objects without a pixel in the image (cells of a list that lie outside it) take no part.
  const trueArea = new Int32Array(nt + 1);
  const predArea = new Int32Array(np + 1);
  for (let i = 0; i < truth.data.length; i++) {
    trueArea[truth.data[i]]++;
    predArea[pred.data[i]]++;
  }
  const claimsOnTrue = new Int32Array(nt + 1);
  const claimsOnPred = new Int32Array(np + 1);
  for (let p = 1; p <= np; p++) if (bestForPred[p]) claimsOnTrue[bestForPred[p]]++;
  for (let t = 1; t <= nt; t++) if (bestForTrue[t]) claimsOnPred[bestForTrue[t]]++;
  let missed = 0;
  let split = 0;
  let matched = 0;
  let trueObjects = 0;
  let predictedObjects = 0;
  for (let t = 1; t <= nt; t++) {
    if (!trueArea[t]) continue;
    trueObjects++;
    const p = bestForTrue[t];
    if (!p) missed++;
    else if (claimsOnTrue[t] >= 2) split++;
    else if (bestForPred[p] === t && claimsOnPred[p] === 1) matched++;
  }
  let added = 0;
  let merged = 0;
  for (let p = 1; p <= np; p++) {
    if (!predArea[p]) continue;
    predictedObjects++;
    if (!bestForPred[p]) added++;
    else if (claimsOnPred[p] >= 2) merged++;
  }
  const errors = split + merged + added + missed;
  return { trueObjects, predictedObjects, matched, split, merged, added, missed, errors, accuracy: trueObjects ? (trueObjects - errors) / trueObjects : NaN };
}
