/**
 * The generator's true cell list (`cells.json` of fixtures/generate.ts) as a label image of
 * nuclei, so segmentations can be checked against ground truth with `matchObjects`.
 */
import { badInput } from '../../core/errors.ts';
import type { Labels } from './components.ts';

/** The part of a cell record this check needs: its nucleus ellipse (px) and whether it is alive. */
export interface NucleusRecord {
  /** Centre (px), semi-axes (px) and rotation (radians, x towards y). */
  readonly nucleus: { readonly x: number; readonly y: number; readonly rx: number; readonly ry: number; readonly angle: number };
  readonly alive: boolean;
}

/**
 * Parses `cells.json`: either `{cells: [...]}` (fixtures' CellList) or a bare array of cells.
 * @param text file contents.
 * @param file path for error messages.
 * @throws IslError BAD_INPUT when it is not JSON or a cell lacks a numeric nucleus ellipse or an alive flag.
 */
export function parseCellList(text: string, file: string): NucleusRecord[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badInput(file, 'expected a JSON cell list ({"cells": [...]})', undefined, e);
  }
  const cells = Array.isArray(raw) ? raw : (raw as { cells?: unknown })?.cells;
  if (!Array.isArray(cells)) throw badInput(file, 'expected a "cells" array');
  return cells.map((c: unknown, i) => {
    const n = (c as { nucleus?: Record<string, unknown> })?.nucleus;
    const ok = n && ['x', 'y', 'rx', 'ry'].every((k) => typeof n[k] === 'number') && typeof (c as { alive?: unknown }).alive === 'boolean';
    if (!ok) throw badInput(file, `element ${i} of cells: expected {nucleus: {x, y, rx, ry, angle}, alive: boolean}`);
    const e = n as Record<string, number>;
    return { nucleus: { x: e.x, y: e.y, rx: e.rx, ry: e.ry, angle: typeof e.angle === 'number' ? e.angle : 0 }, alive: (c as { alive: boolean }).alive };
  });
}

/**
 * Where the cell list's canvas sits in the evaluated image: image px = (canvas px - origin) x scale.
 * The generator's canvas includes a margin around the tiles, and a stitched well starts at the
 * top-left tile, so the origin is that tile's canvas position.
 */
export interface CellFrame {
  readonly originX: number;
  readonly originY: number;
  readonly scale: number;
}

export const IDENTITY_FRAME: CellFrame = { originX: 0, originY: 0, scale: 1 };

/**
 * Rasterises nuclei as labels: cell i (0-based) gets label i + 1 on every pixel whose centre lies
 * inside its ellipse; where nuclei overlap, the later cell wins. Cells outside the image leave
 * no pixel but keep their label number (so labels stay tied to the list; count = cells.length);
 * `matchObjects` ignores such empty labels.
 *
 * @param cells nuclei in canvas px (pixel (x, y) has its centre at (x, y)).
 * @param width image width, px.
 * @param height image height, px.
 * @param frame canvas-to-image mapping; default identity.
 */
export function cellListLabels(cells: readonly NucleusRecord[], width: number, height: number, frame: CellFrame = IDENTITY_FRAME): Labels {
  const data = new Int32Array(width * height);
  cells.forEach((c, i) => {
    const { angle } = c.nucleus;
    const x = (c.nucleus.x - frame.originX) * frame.scale;
    const y = (c.nucleus.y - frame.originY) * frame.scale;
    const rx = c.nucleus.rx * frame.scale;
    const ry = c.nucleus.ry * frame.scale;
    const r = Math.max(rx, ry);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    for (let py = Math.max(0, Math.floor(y - r)); py <= Math.min(height - 1, Math.ceil(y + r)); py++) {
      for (let px = Math.max(0, Math.floor(x - r)); px <= Math.min(width - 1, Math.ceil(x + r)); px++) {
        const dx = px - x;
        const dy = py - y;
        const u = (dx * cos + dy * sin) / rx;
        const v = (-dx * sin + dy * cos) / ry;
        if (u * u + v * v <= 1) data[py * width + px] = i + 1;
      }
    }
  });
  return { width, height, data, count: cells.length };
}
