/**
 * The shape of `metrics.json`, the machine-readable result of `pipelines/evaluate.ts`, which the
 * HTML report is rendered from. Image paths are relative to the report folder.
 */
import type { ObjectMatch } from '../../transforms/evaluate/objects.ts';
import type { KsResult } from '../../transforms/evaluate/ks.ts';
import type { NoiseCeiling } from '../../transforms/evaluate/noise_ceiling.ts';
import type { CellAlignment } from '../../transforms/evaluate/cell_alignment.ts';

/** Pixel-level metrics of one label in one well. */
export interface LabelMetrics {
  readonly label: string;
  /** Pearson r over `samples` seeded random pixels (with replacement). */
  readonly r: number;
  /** Pearson r over every pixel. */
  readonly rWhole: number;
  readonly samples: number;
  /** Best achievable r, when replicates or a noise sd were given. */
  readonly ceiling?: NoiseCeiling;
  /** Joint histogram, row = predicted bin, column = true bin, pixels per 1,000 (bins of 0.1). */
  readonly heatmap: { readonly bins: number; readonly perThousand: readonly number[] };
  /** Report images (paths relative to the report folder). */
  readonly images: { readonly heatmap: string; readonly truth: string; readonly pred: string; readonly error: string };
  /** Top-left crop shown, px, and the display gain applied to it. */
  readonly crop: { readonly width: number; readonly height: number; readonly gain: number };
}

/** Nuclear-size distributions of live vs dead cells in one image (true or predicted). */
export interface LiveDead {
  /** Areas of live / dead nuclei, px. */
  readonly liveAreas: readonly number[];
  readonly deadAreas: readonly number[];
  /** Two-sample KS test of live vs dead areas (absent when either group is empty). */
  readonly ks?: KsResult;
}

/** Object-level metrics of the nuclear label of one well. */
export interface ObjectMetrics {
  readonly label: string;
  /** Segmentation thresholds (Otsu of the smoothed image) in the true and predicted images. */
  readonly thresholds: { readonly truth: number; readonly pred: number };
  /** Predicted nuclei vs nuclei segmented in the true image. */
  readonly match: ObjectMatch;
  /** Where the cell list was placed in the image (guessed from tile positions, refined by overlap). */
  readonly cellFrame?: CellAlignment;
  /** Nuclei segmented in the true image vs the generator's true cell list (fixtures only; nuclei within 3 px of the border excluded on both sides). */
  readonly truthVsCells?: ObjectMatch;
  /** Predicted nuclei vs the generator's true cell list (fixtures only). */
  readonly predVsCells?: ObjectMatch;
  /** Live vs dead nuclear sizes, where a dead-cell label (or a cell list) tells them apart. */
  readonly liveDead?: { readonly deadLabel: string; readonly truth: LiveDead; readonly pred: LiveDead };
  /** Outlines of true (green) and predicted (magenta) nuclei on the top-left crop. */
  readonly image: string;
}

export interface WellMetrics {
  readonly well: string;
  readonly width: number;
  readonly height: number;
  readonly labels: readonly LabelMetrics[];
  readonly objects?: ObjectMetrics;
}

/** Contents of `metrics.json`. */
export interface Metrics {
  readonly version: 1;
  readonly seed: number;
  readonly pred: string;
  readonly truth: string;
  readonly wells: readonly WellMetrics[];
  /** Mean sampled r per label over wells. */
  readonly summary: readonly { readonly label: string; readonly wells: number; readonly meanR: number }[];
  /** Links shown in the report, relative to the report folder. */
  readonly links: { readonly qcReport?: string; readonly trainLog?: string };
  /** Truth wells that had no prediction (not evaluated). */
  readonly skippedWells: readonly string[];
}
