/**
 * A tiny WebAssembly (SIMD) assembler for the hot loops of the transforms (median, Gaussian):
 * modules are emitted at run time as bytes, so there is no build step, no toolchain and no binary
 * in the repository. Only the instructions the kernels use are here. Every module imports one
 * memory as `env.mem`, which the caller owns and fills.
 */

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};

const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return out.push(b), out;
    out.push(b | 0x80);
  }
};

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const simd = (code: number): number[] => [0xfd, ...uleb(code)];

export const I32 = 0x7f;
export const V128 = 0x7b;

/** Instruction encoders (memory offsets in bytes, alignment hint 1 byte: loads may be unaligned). */
export const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  const: (n: number) => [0x41, ...sleb(n)],
  add: [0x6a],
  sub: [0x6b],
  mul: [0x6c],
  shl: [0x74],
  geU: [0x4f],
  ltU: [0x49],
  and: [0x71],
  if: [0x04, 0x40],
  else: [0x05],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  br: (l: number) => [0x0c, ...uleb(l)],
  brIf: (l: number) => [0x0d, ...uleb(l)],
  end: [0x0b],
  i32load: (offset: number) => [0x28, 2, ...uleb(offset)],
  load: (offset: number) => [...simd(0), 0, ...uleb(offset)],
  loadSplat32: (offset: number) => [...simd(9), 0, ...uleb(offset)],
  store: (offset: number) => [...simd(11), 0, ...uleb(offset)],
  f32x4add: simd(228),
  f32x4sub: simd(229),
  f32x4mul: simd(230),
  // pseudo-min/max: b < a ? b : a (one SSE instruction each; callers guarantee no NaN)
  pmin: simd(234),
  pmax: simd(235),
  i16x8minU: simd(151),
  i16x8maxU: simd(153),
  f32x4eq: simd(65),
  f32x4le: simd(69),
  v128and: simd(78),
  i32x4allTrue: simd(163),
  i16x8narrowI32x4U: simd(134),
  i32x4extendLowI16x8U: simd(169),
  i32x4extendHighI16x8U: simd(170),
  // signed conversions: one SSE instruction each (the unsigned ones are emulated on x64)
  i32x4truncSatF32x4S: simd(248),
  f32x4convertI32x4S: simd(250),
};

/** `v128.const` of four copies of a float32. */
export function simdConst(x: number): number[] {
  const b = new Uint8Array(new Float32Array([x, x, x, x]).buffer);
  return [...simd(12), ...b];
}

/** `v128.const` with every bit set (all lanes "true" for v128.and / all_true). */
export const ALL_ONES: number[] = [...simd(12), ...new Array(16).fill(0xff)];

export interface WasmFunction {
  name: string;
  /** Number of i32 parameters. */
  params: number;
  /** Returns one i32 (default: nothing). */
  returnsI32?: boolean;
  /** Local declarations after the parameters: [count, type]. */
  locals: Array<[number, number]>;
  /** Instructions, without the final `end`. */
  body: number[];
}

/** Assembles functions (`(i32...) -> ()` or `-> i32`) into a compiled module importing `env.mem`. */
export function wasmModule(fns: readonly WasmFunction[]): WebAssembly.Module {
  const types = fns.map((f) => [0x60, ...vec(Array.from({ length: f.params }, () => [I32])), ...(f.returnsI32 ? [1, I32] : [0])]);
  const bytes = Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec([[...str('env'), ...str('mem'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(7, vec(fns.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(fns.map((f) => {
      const body = [...vec(f.locals.map(([n, t]) => [...uleb(n), t])), ...f.body, ...op.end];
      return [...uleb(body.length), ...body];
    }))),
  ]);
  return new WebAssembly.Module(bytes);
}

/** Grows `mem` to hold at least `bytes`; returns a fresh Float32Array view over all of it. */
export function ensureMemory(mem: WebAssembly.Memory, bytes: number): Float32Array<ArrayBuffer> {
  const need = Math.ceil(bytes / 65536);
  if (need > 65536) throw new RangeError(`image too large for a 4 GiB WebAssembly memory (${bytes} bytes needed)`);
  const have = mem.buffer.byteLength / 65536;
  if (need > have) mem.grow(need - have);
  return new Float32Array(mem.buffer as ArrayBuffer);
}
