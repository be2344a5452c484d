/**
 * The streamed form of a well, shared by the canonical writers (io/canonical.ts) and the OME-Zarr
 * writer (io/zarr/plate.ts), in a file of its own so neither imports the other.
 */
import { stackPlane, type Plane, type Well } from '../core/image.ts';

/**
 * A well whose planes are produced one at a time (the streamed form of `Well`): canonical
 * intensities in [0, 1], each plane asked for once, in order (transmitted z 0.., then labels).
 */
export interface WellPlanes {
  readonly well: string;
  readonly width: number;
  readonly height: number;
  readonly transmitted: { readonly channel: string; readonly depth: number };
  readonly labels: readonly string[];
  /** Plane z of the transmitted channel, or a label's image (z 0). */
  plane(channel: string, z: number): Promise<Plane<'float32'>> | Plane<'float32'>;
}

/** A well held in memory as {@link WellPlanes}. */
export function wellPlanesOf(well: Well): WellPlanes {
  const { stack, channel } = well.transmitted;
  return {
    well: well.well, width: well.width, height: well.height,
    transmitted: { channel, depth: stack.depth },
    labels: [...well.labels.keys()],
    plane: (ch, z) => (ch === channel ? stackPlane(stack, z) : well.labels.get(ch)!),
  };
}
