/**
 * Stitching: register a well's tile grid (`stitchWell`, or `stitchWellFrom` reading tiles one at a
 * time; the result is `stitch/<well>.json`),
 * then blend every z-plane and channel with the same positions (`compositePlane(layoutOf(report), ...)`,
 * or `Compositor` for tiles that arrive one by one).
 */
export { stitchWell, stitchWellFrom, type GridSlot, type GridTile, type StitchOptions, type StitchReport, type TileReport, type PairReport } from './well.ts';
export { Compositor, compositePlane, layoutOf, type CompositeLayout, type SlotPlane, type TileSource } from './composite.ts';
export { pairOffset, pairWindows, overlapNcc, type Rect, type TileOffset, type PairOffsetOptions, type OverlapNcc } from './ncc.ts';
export { phaseCorrelation, type PhaseSurface } from './phase.ts';
export { nccThreshold, nullPairs, type NccThreshold, type NullPair } from './trust.ts';
export { solvePositions, applyAffine, type Link, type Affine, type Point, type SolveOptions, type Solution } from './lsq.ts';
export { detail } from './detail.ts';
