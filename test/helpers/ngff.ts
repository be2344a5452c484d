/**
 * Independent checks of our OME-Zarr output: Debian's python3-zarr (2.13) opening it, and the
 * strict NGFF 0.4 JSON Schemas of ../shared/specs (ajv). Missing tools skip the test with a
 * reason, except under CI=true, where they fail it ({@link requirePrerequisite}; CI installs them: .ci/run).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import { createHash } from 'node:crypto';
import { fromFloat32, stackPlane, type Well } from '../../core/image.ts';
import { labelZ } from '../../io/zarr/index.ts';
import { requirePrerequisite } from './prerequisite.ts';

export const NGFF_SPECS = fileURLToPath(new URL('../../../shared/specs/ngff-0.4', import.meta.url));
const PYTHON = '/usr/bin/python3';

/** ava's test when the NGFF schemas and python3-zarr are both here, otherwise skipped, or failing under CI=true. */
export function withNgffTools<T extends (title: string, fn: (t: any) => unknown) => unknown>(test: T & { skip: T }): T {
  const zarr = spawnSync(PYTHON, ['-c', 'import zarr, numpy'], { encoding: 'utf8' }).status === 0;
  const gated = requirePrerequisite(test, '../shared/specs/ngff-0.4/schemas', existsSync(join(NGFF_SPECS, 'schemas')), 'the NGFF specs folder beside the repository');
  return requirePrerequisite(gated, 'python3-zarr', zarr, `${PYTHON} importing zarr and numpy: apt-get install python3-zarr python3-numpy`);
}

/** Runs a Python snippet with Debian's python3 (zarr 2.13); returns its stdout parsed as JSON. */
export function python(code: string, ...args: string[]): any {
  const r = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * python3-zarr's view of a plate: for every image group of the plate, each level's shape,
 * chunks, dtype, compressor and the sha256 of its bytes (C order, little-endian), plus the
 * plate's wells as zarr lists them.
 */
export function pythonPlateSummary(plate: string): { wells: string[]; images: Record<string, { shape: number[]; chunks: number[]; dtype: string; compressor: string; sha256: string; sum: number }[]> } {
  return python(
    `
import sys, json, hashlib, zarr, numpy as np
root = zarr.open_group(sys.argv[1], mode='r')
plate = root.attrs['plate']
out = {'wells': [w['path'] for w in plate['wells']], 'images': {}}
for w in plate['wells']:
    well = root[w['path']]
    for im in well.attrs['well']['images']:
        img = well[im['path']]
        levels = []
        for d in img.attrs['multiscales'][0]['datasets']:
            a = img[d['path']]
            x = a[...]
            levels.append({'shape': list(a.shape), 'chunks': list(a.chunks), 'dtype': str(a.dtype), 'compressor': a.compressor.codec_id,
                           'sha256': hashlib.sha256(x.astype(x.dtype.newbyteorder('<')).tobytes()).hexdigest(), 'sum': float(x.astype(np.float64).sum())})
        out['images'][w['path'] + '/' + im['path']] = levels
print(json.dumps(out))
`,
    plate,
  );
}

/** A validator for the strict NGFF 0.4 schemas (they refer to each other by $id). */
export function ngffValidator(): (schema: 'strict_plate' | 'strict_well' | 'strict_image', doc: unknown) => string[] {
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  const dir = join(NGFF_SPECS, 'schemas');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.schema'))) ajv.addSchema(JSON.parse(readFileSync(join(dir, f), 'utf8')));
  return (schema, doc) => {
    const v = ajv.getSchema(`https://ngff.openmicroscopy.org/0.4/schemas/${schema}.schema`)!;
    return v(doc) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  };
}

/** Validates every `.zattrs` of a plate against the strict schemas; returns the problems found (empty when valid). */
export function validatePlate(plate: string): string[] {
  const validate = ngffValidator();
  const read = (p: string) => JSON.parse(readFileSync(join(p, '.zattrs'), 'utf8'));
  const problems: string[] = [];
  const p = read(plate);
  problems.push(...validate('strict_plate', p).map((e) => `plate${e}`));
  for (const w of p.plate.wells as { path: string }[]) {
    const wa = read(join(plate, w.path));
    problems.push(...validate('strict_well', wa).map((e) => `${w.path}${e}`));
    for (const im of wa.well.images as { path: string }[]) problems.push(...validate('strict_image', read(join(plate, w.path, im.path))).map((e) => `${w.path}/${im.path}${e}`));
  }
  return problems;
}

/** sha256 of a typed array's bytes (compare with {@link pythonPlateSummary}). */
export function sha256Of(a: ArrayBufferView): string {
  return createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
}

/** What level 0 of canonicalImage(w) holds: (c, z, y, x) uint16, channel 0 transmitted, labels at labelZ only. */
export function canonicalLevel0(w: Well): Uint16Array {
  const n = w.width * w.height;
  const d = w.transmitted.stack.depth;
  const out = new Uint16Array((1 + w.labels.size) * d * n);
  for (let z = 0; z < d; z++) out.set(fromFloat32(stackPlane(w.transmitted.stack, z), 'uint16').data, z * n);
  [...w.labels.values()].forEach((p, k) => out.set(fromFloat32(p, 'uint16').data, ((k + 1) * d + labelZ(d)) * n));
  return out;
}
