/**
 * bioimage.io model packages on disk: a zip (what the Model Zoo, deepImageJ and ilastik import)
 * or an unpacked folder, holding `bioimageio.yaml` (older packages: `rdf.yaml` or
 * `<name>.bioimageio.yaml`) and the files it references. Zips are read and written with fflate.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { badInput } from '../core/errors.ts';
import { writeFileAtomic } from './atomic.ts';

/** An opened package: its description file's text and the bytes of any file it holds. */
export interface ModelPackage {
  /** The zip or folder. */
  readonly path: string;
  /** Name of the description file inside the package. */
  readonly descriptionFile: string;
  readonly description: string;
  /** Names of the files in the package (posix paths relative to its root). */
  readonly files: readonly string[];
  /** @throws IslError BAD_INPUT naming the package and the file when it is not in the package. */
  read(name: string): Promise<Uint8Array>;
}

const DESCRIPTION_NAMES = ['bioimageio.yaml', 'rdf.yaml'];

function descriptionIn(files: readonly string[]): string | undefined {
  return DESCRIPTION_NAMES.find((n) => files.includes(n)) ?? files.find((f) => !f.includes('/') && f.endsWith('.bioimageio.yaml'));
}

/** True when `path` is a zip file or a folder with a bioimage.io description (not a checkpoint folder). */
export function isModelPackage(path: string): boolean {
  if (!existsSync(path)) return false;
  if (statSync(path).isFile()) return path.toLowerCase().endsWith('.zip');
  return descriptionIn(readdirSync(path)) !== undefined;
}

/**
 * Opens a package zip or folder.
 * @throws IslError BAD_INPUT naming the path when it is not a readable zip or holds no description file.
 */
export async function openModelPackage(path: string): Promise<ModelPackage> {
  let files: string[];
  let read: (name: string) => Promise<Uint8Array | undefined>;
  if (statSync(path, { throwIfNoEntry: false })?.isFile()) {
    let entries: Record<string, Uint8Array>;
    try {
      entries = unzipSync(await readFile(path));
    } catch (e) {
      throw badInput(path, `is not a readable zip (${(e as Error).message})`, undefined, e);
    }
    files = Object.keys(entries).filter((n) => !n.endsWith('/'));
    read = async (name) => entries[name];
  } else {
    if (!existsSync(path)) throw badInput(path, 'does not exist (expected a bioimage.io package zip or folder)');
    files = listFiles(path);
    read = async (name) => (files.includes(name) ? new Uint8Array(await readFile(join(path, name))) : undefined);
  }
  const descriptionFile = descriptionIn(files);
  if (!descriptionFile) throw badInput(path, `holds no bioimage.io description (${DESCRIPTION_NAMES.join(' or ')}); found ${files.slice(0, 8).join(', ') || 'no files'}`);
  const readOrThrow = async (name: string) => {
    const bytes = await read(name);
    if (!bytes) throw badInput(`${path}:${name}`, `is referenced by ${descriptionFile} but not in the package`);
    return bytes;
  };
  return { path, descriptionFile, description: new TextDecoder().decode(await readOrThrow(descriptionFile)), files, read: readOrThrow };
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    return e.isDirectory() ? listFiles(dir, rel) : [rel];
  });
}

/** Hex SHA-256 of `bytes`, as bioimage.io descriptions record it for every file. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Writes a package: a zip when `path` ends in `.zip` (see {@link writeModelPackageZip}), else an
 * unpacked folder, each file atomically.
 */
export async function writeModelPackage(path: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
  if (path.toLowerCase().endsWith('.zip')) return writeModelPackageZip(path, files);
  // The description last: a folder with one is a package (isModelPackage), so it must be complete.
  const names = [...files.keys()].sort((a, b) => Number(DESCRIPTION_NAMES.includes(a)) - Number(DESCRIPTION_NAMES.includes(b)));
  for (const name of names) await writeFileAtomic(join(path, name), files.get(name)!);
}

/**
 * Writes the files as a zip, atomically. Text files are deflated; weights and arrays (little
 * to gain) are stored.
 */
export async function writeModelPackageZip(path: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
  const entries: Zippable = {};
  for (const [name, bytes] of files) entries[name] = [bytes, { level: /\.(ya?ml|md|txt|json)$/.test(name) ? 6 : 0 }];
  await writeFileAtomic(path, zipSync(entries));
}
