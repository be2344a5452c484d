/**
 * The floor rule of docs/ARCHITECTURE.md, checked on the source text: core/ < io/, transforms/ <
 * model/, runners/ < pipelines/, fixtures/, bench/. A file may import its own floor or a lower one,
 * never a higher one. Every way a file can reach another counts: static imports and re-exports
 * (type-only ones too), dynamic `import('...')` (also in types), and `new URL('./x.ts',
 * import.meta.url)` (worker entry points). A dynamic import of a computed path (runners/job.ts loads
 * a job's module, bench/run.ts a bench) cannot be checked here.
 * Project files must also form no import cycle.
 */
import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FLOOR: Record<string, number> = { core: 0, io: 1, transforms: 1, model: 2, runners: 2, pipelines: 3, fixtures: 3, bench: 3 };

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Source text with comments blanked out (strings and template literals kept, so their `//` survive). */
export function stripComments(src: string): string {
  let out = '';
  for (let i = 0; i < src.length; ) {
    const c = src[i];
    if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c && !(c !== '`' && src[j] === '\n')) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const IMPORTS = [
  /(?:^|[;\n}])\s*(?:import|export)\s+(?:type\s+)?[^;'"`]*?\bfrom\s*(['"])([^'"]+)\1/g,
  /(?:^|[;\n}])\s*import\s*(['"])([^'"]+)\1/g,
  /\bimport\s*\(\s*(['"`])([^'"`$]+)\1\s*[,)]/g,
];
const WORKER_URL = /\bnew\s+URL\s*\(\s*(['"`])([^'"`$]+\.ts)\1\s*,\s*import\.meta\.url\s*\)/g;

/** The module specifiers a file imports, and the worker entry points it starts (see the header). */
export function specifiers(src: string): { imports: string[]; workers: string[] } {
  const code = stripComments(src);
  const all = (res: RegExp[]) => res.flatMap((re) => [...code.matchAll(re)].map((m) => m[2]));
  return { imports: all(IMPORTS), workers: all([WORKER_URL]) };
}

const floorOf = (rel: string) => FLOOR[rel.split('/')[0]];

/** Project file -> the project files it imports, or (withWorkers) also starts as workers. */
async function graph(withWorkers: boolean): Promise<Map<string, string[]>> {
  const files = (await Promise.all(Object.keys(FLOOR).map((d) => sources(join(ROOT, d))))).flat();
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const { imports, workers } = specifiers(await readFile(file, 'utf8'));
    const rel = (p: string) => relative(ROOT, p).split(sep).join('/');
    const targets = [...imports, ...(withWorkers ? workers : [])].filter((s) => s.startsWith('.')).map((s) => rel(resolve(dirname(file), s)));
    edges.set(rel(file), targets);
  }
  return edges;
}

test('specifiers: static, type-only, re-export, dynamic, worker URL; not in comments', (t) => {
  const src = [
    "import { a } from './a.ts';",
    "import type { B } from '../b.ts';",
    "export { c } from './c.ts';",
    "import './side.ts';",
    "const m = await import('../pipelines/x.ts');",
    "type T = typeof import('./t.ts');",
    "const w = new URL('./thread.ts', import.meta.url);",
    "const s = 'http://example.org'; // import('./no-comment.ts')",
    "/* import { z } from './no-block.ts'; */",
    "import {\n  d,\n  e,\n} from './multi.ts';",
  ].join('\n');
  const { imports, workers } = specifiers(src);
  t.deepEqual(imports.sort(), ['../b.ts', '../pipelines/x.ts', './a.ts', './c.ts', './multi.ts', './side.ts', './t.ts'].sort());
  t.deepEqual(workers, ['./thread.ts']);
});

test('no file imports a higher floor', async (t) => {
  const edges = await graph(true);
  t.true(edges.size > 90, `read ${edges.size} source files`);
  const up: string[] = [];
  for (const [from, targets] of edges) {
    for (const to of targets) {
      const f = floorOf(from);
      const g = floorOf(to);
      if (g === undefined) continue; // outside the floors, e.g. ../shared data
      if (g > f) up.push(`${from} -> ${to}`);
    }
  }
  t.deepEqual(up, []);
});

test('project files form no import cycle', async (t) => {
  const edges = await graph(false); // a worker entry importing its starter is no cycle
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (node: string, path: string[]) => {
    state.set(node, 'open');
    for (const next of edges.get(node) ?? []) {
      if (!edges.has(next)) continue;
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(node, 'done');
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node, [node]);
  t.deepEqual(cycles, []);
});
