/**
 * `npm run bench -- NAME [args]` runs bench/NAME.ts, which prints JSON lines
 * {name, ours_s, ref_s, ratio}. `npm run bench` alone lists the benchmarks.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const dir = fileURLToPath(new URL('.', import.meta.url));
const names = readdirSync(dir).filter((f) => f.endsWith('.ts') && !['run.ts', 'lib.ts'].includes(f)).map((f) => f.slice(0, -3));
const name = process.argv[2];
if (!name || name === '--help') {
  console.log(`usage: npm run bench -- NAME [args]\nbenchmarks: ${names.join(', ')}\nreferences need Debian python3 packages: bash bench/setup`);
  process.exit(name ? 0 : 1);
}
if (!names.includes(name)) {
  console.error(`unknown benchmark ${JSON.stringify(name)}; known: ${names.join(', ')}`);
  process.exit(2);
}
process.argv.splice(2, 1);
await import(pathToFileURL(join(dir, `${name}.ts`)).href);
