/**
 * The rules of bioimage.io's `model_v0_5.py` (../shared/specs/bioimageio) that can be checked
 * without Python's bioimageio packages, written from the spec text independently of our writer.
 * Returns the violations found (empty: valid as far as these rules go).
 *
 * Checked: required fields and their forms (format_version, type, name charset and length,
 * authors, cite with doi/url, license, documentation `.md` with a Validation section, covers),
 * tensor ids (lower-case identifiers <= 32, unique across inputs and outputs), axes (one batch
 * axis, unique lower-case ids <= 16, channel names identifiers, ParameterizedSize min/step > 0,
 * SizeReference to an independent axis that is not itself or a batch axis, halo fits the
 * minimum size), preprocessing ids and their `axes` subset of the tensor's, test tensors
 * (present, sha256, .npy readable, rank, dtype, sizes against the description, not all ~0),
 * weights (a known format, files present with sha256, onnx opset >= 7), every referenced file present.
 */
import { createHash } from 'node:crypto';
import { parse as parseNpy } from 'npyjs';

const PREPROCESSING = ['binarize', 'clip', 'ensure_dtype', 'fixed_zero_mean_unit_variance', 'scale_linear', 'scale_range', 'sigmoid', 'softmax', 'zero_mean_unit_variance'];
const POSTPROCESSING = [...PREPROCESSING, 'scale_mean_variance'];
const WEIGHTS = ['keras_hdf5', 'onnx', 'pytorch_state_dict', 'tensorflow_js', 'tensorflow_saved_model_bundle', 'torchscript'];
const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;
const lowerIdentifier = /^[a-z_][a-z0-9_]*$/;

type Obj = Record<string, any>;

/**
 * @param d the parsed description.
 * @param files the package's files, or undefined to check the description alone (then no file rules).
 */
export function specViolations(d: Obj, files?: ReadonlyMap<string, Uint8Array>): string[] {
  const v: string[] = [];
  const need = (cond: unknown, msg: string) => {
    if (!cond) v.push(msg);
  };
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const fileRef = (ref: Obj | string | undefined, what: string, suffixes?: string[]) => {
    const source = typeof ref === 'string' ? ref : ref?.source;
    need(typeof source === 'string' && source.length > 0, `${what}: missing source`);
    if (typeof source !== 'string') return undefined;
    if (suffixes) need(suffixes.some((s) => source.toLowerCase().endsWith(s)), `${what}: ${source} must end with ${suffixes.join('/')}`);
    if (!files || /^https?:/.test(source)) return undefined;
    const bytes = files.get(source);
    need(bytes, `${what}: ${source} is not in the package`);
    if (bytes && typeof ref === 'object' && ref.sha256 !== undefined) need(ref.sha256 === sha(bytes), `${what}: sha256 of ${source} does not match`);
    return bytes;
  };

  need(/^0\.5\.\d+$/.test(String(d.format_version)), `format_version ${d.format_version} is not 0.5.x`);
  need(d.type === 'model', `type ${d.type} is not model`);
  need(typeof d.name === 'string' && /^[A-Za-z0-9_+\- ()]{5,128}$/.test(d.name), `name ${JSON.stringify(d.name)}: 5-128 of letters, digits, _+- ()`);
  need(typeof d.description === 'string' && d.description.length > 0 && d.description.length <= 1024, 'description: a non-empty string of at most 1024 characters');
  need(Array.isArray(d.authors) && d.authors.length > 0 && d.authors.every((a: Obj) => typeof a.name === 'string' && a.name.length > 0 && !/[/\\]/.test(a.name)), 'authors: at least one, each with a name without / or \\');
  need(Array.isArray(d.cite) && d.cite.length > 0 && d.cite.every((c: Obj) => typeof c.text === 'string' && (c.doi || c.url)), 'cite: at least one entry, each with text and a doi or url');
  for (const c of d.cite ?? []) if (c.doi) need(/^10\.\d{4,9}\/\S+$/.test(c.doi), `cite doi ${c.doi} is not a DOI`);
  need(typeof d.license === 'string' && /^[A-Za-z0-9.+-]+$/.test(d.license), `license ${d.license}: an SPDX identifier`);
  if (d.documentation !== undefined) {
    const doc = fileRef(d.documentation, 'documentation', ['.md']);
    if (doc) need(/#.*[vV]alidation/.test(new TextDecoder().decode(doc)), 'documentation has no "# Validation" section');
  }
  for (const [i, c] of (d.covers ?? []).entries()) fileRef(c, `covers[${i}]`, ['.gif', '.jpeg', '.jpg', '.png', '.svg']);

  const inputs: Obj[] = d.inputs ?? [];
  const outputs: Obj[] = d.outputs ?? [];
  need(inputs.length > 0, 'inputs: at least one');
  need(outputs.length > 0, 'outputs: at least one');
  const ids = [...inputs, ...outputs].map((t) => t.id);
  need(new Set(ids).size === ids.length, `duplicate tensor ids in ${ids.join(', ')}`);
  const axisIdOf = (a: Obj) => a.id ?? (a.type === 'space' ? 'x' : a.type);
  // Axes with an independent size (int or ParameterizedSize) that a SizeReference may point at.
  const independent = new Map<string, Obj>();
  for (const t of inputs) for (const a of t.axes ?? []) if (a.type !== 'batch' && (typeof a.size === 'number' || (a.size && 'min' in a.size))) independent.set(`${t.id}.${axisIdOf(a)}`, a);
  for (const t of outputs) for (const a of t.axes ?? []) if (a.type !== 'batch' && typeof a.size === 'number') independent.set(`${t.id}.${axisIdOf(a)}`, a);
  const arrays = new Map<string, { shape: number[]; data: ArrayLike<number>; dtype: string } | undefined>();

  for (const [kind, tensors] of [['inputs', inputs], ['outputs', outputs]] as const)
    for (const t of tensors) {
      const at = `${kind}[${t.id}]`;
      need(typeof t.id === 'string' && lowerIdentifier.test(t.id) && t.id.length <= 32, `${at}: id must be a lower-case identifier of at most 32 characters`);
      const axes: Obj[] = t.axes ?? [];
      need(axes.length > 0, `${at}: no axes`);
      need(axes.filter((a) => a.type === 'batch').length <= 1, `${at}: more than one batch axis`);
      const aids = axes.map(axisIdOf);
      need(new Set(aids).size === aids.length, `${at}: duplicate axis ids ${aids.join(', ')}`);
      for (const a of axes) {
        const aid = axisIdOf(a);
        const where = `${at}.axes[${aid}]`;
        need(['batch', 'channel', 'index', 'time', 'space'].includes(a.type), `${where}: unknown type ${a.type}`);
        need(lowerIdentifier.test(aid) && aid.length <= 16, `${where}: id must be a lower-case identifier of at most 16 characters`);
        if (a.type === 'batch') {
          need(aid === 'batch', `${where}: a batch axis's id is batch`);
          need(a.size === undefined || a.size === 1, `${where}: batch size is 1 or unset`);
          continue;
        }
        need(aid !== 'batch', `${where}: only batch axes may be called batch`);
        if (a.type === 'channel') {
          need(Array.isArray(a.channel_names) && a.channel_names.length > 0 && a.channel_names.every((c: string) => identifier.test(c)), `${where}: channel_names must be identifiers`);
          continue;
        }
        const s = a.size;
        if (typeof s === 'number') need(Number.isInteger(s) && s > 0, `${where}: size ${s} must be a positive integer`);
        else if (s && 'min' in s) {
          need(kind === 'inputs', `${where}: ParameterizedSize is for inputs`);
          need(Number.isInteger(s.min) && s.min > 0 && Number.isInteger(s.step) && s.step > 0, `${where}: ParameterizedSize needs min > 0 and step > 0`);
        } else if (s && 'tensor_id' in s) {
          const key = `${s.tensor_id}.${s.axis_id}`;
          const ref = independent.get(key);
          need(ref, `${where}: SizeReference to ${key}, which is not an axis of fixed or parameterized size`);
          need(key !== `${t.id}.${aid}`, `${where}: SizeReference to itself`);
          need(Number.isInteger(s.offset ?? 0), `${where}: offset must be an integer`);
          if (ref) need((a.unit ?? null) === (ref.unit ?? null), `${where}: unit differs from the referenced axis`);
          if (ref && a.halo !== undefined) {
            const refMin = typeof ref.size === 'number' ? ref.size : ref.size.min;
            const minSize = Math.floor((refMin * (ref.scale ?? 1)) / (a.scale ?? 1) + (s.offset ?? 0));
            need(minSize - 2 * a.halo >= 1, `${where}: halo ${a.halo} too large for the minimum size ${minSize}`);
          }
        } else v.push(`${where}: size ${JSON.stringify(s)} is not an int, ParameterizedSize or SizeReference`);
        if (a.halo !== undefined) need(kind === 'outputs' && Number.isInteger(a.halo) && a.halo >= 1 && s && 'tensor_id' in s, `${where}: halo >= 1 only on outputs sized by a SizeReference`);
      }
      const procs: Obj[] = kind === 'inputs' ? (t.preprocessing ?? []) : (t.postprocessing ?? []);
      for (const p of procs) {
        need((kind === 'inputs' ? PREPROCESSING : POSTPROCESSING).includes(p.id), `${at}: unknown processing ${p.id}`);
        if (p.kwargs?.axes) need(p.kwargs.axes.every((x: string) => aids.includes(x)), `${at}: ${p.id} kwargs.axes ${p.kwargs.axes} not a subset of ${aids}`);
        if (p.id === 'ensure_dtype') need(typeof p.kwargs?.dtype === 'string', `${at}: ensure_dtype needs a dtype`);
      }
      const bytes = t.test_tensor ? fileRef(t.test_tensor, `${at}.test_tensor`, ['.npy']) : undefined;
      if (files) need(t.test_tensor, `${at}: no test_tensor`);
      if (bytes) {
        try {
          const a = parseNpy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          arrays.set(t.id, { shape: a.shape, data: a.data as unknown as ArrayLike<number>, dtype: a.dtype });
        } catch (e) {
          v.push(`${at}.test_tensor: not a readable .npy (${(e as Error).message})`);
        }
      }
    }

  // validate_tensors: ranks, dtypes, sizes of the test tensors against the description.
  const sizeOf = (tid: string, aid: string) => {
    const t = [...inputs, ...outputs].find((x) => x.id === tid);
    const i = (t?.axes ?? []).findIndex((a: Obj) => axisIdOf(a) === aid);
    return i < 0 ? undefined : arrays.get(tid)?.shape[i];
  };
  for (const t of [...inputs, ...outputs]) {
    const arr = arrays.get(t.id);
    if (!arr) continue;
    const at = `${t.id}.test_tensor`;
    need(arr.shape.length === t.axes.length, `${at}: rank ${arr.shape.length} but ${t.axes.length} axes`);
    const dtype = t.data?.type ?? 'float32';
    if (dtype === 'float32' || dtype === 'float64') need(['f4', 'f8', 'u1', 'i1', 'u2', 'i2', 'u4', 'i4', 'u8', 'i8'].includes(arr.dtype), `${at}: dtype ${arr.dtype} for a ${dtype} tensor`);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < arr.data.length; i++) {
      lo = Math.min(lo, arr.data[i]);
      hi = Math.max(hi, arr.data[i]);
    }
    need(!(lo > -1e-4 && hi < 1e-4), `${at}: values too small for reliable testing`);
    t.axes.forEach((a: Obj, i: number) => {
      const n = arr.shape[i];
      const s = a.size;
      if (a.type === 'batch') need(s === undefined || n === s, `${at}: batch ${n}`);
      else if (a.type === 'channel') need(n === a.channel_names?.length, `${at}: ${n} channels but ${a.channel_names?.length} names`);
      else if (typeof s === 'number') need(n === s, `${at}: axis ${axisIdOf(a)} is ${n}, expected ${s}`);
      else if (s && 'min' in s) need(n >= s.min && (n - s.min) % s.step === 0, `${at}: axis ${axisIdOf(a)} is ${n}, not ${s.min} + k * ${s.step}`);
      else if (s && 'tensor_id' in s) {
        const ref = independent.get(`${s.tensor_id}.${s.axis_id}`);
        const refN = sizeOf(s.tensor_id, s.axis_id);
        if (ref && refN !== undefined) need(n === (refN * (ref.scale ?? 1)) / (a.scale ?? 1) + (s.offset ?? 0), `${at}: axis ${axisIdOf(a)} is ${n}, expected ${refN} + ${s.offset ?? 0}`);
      }
    });
  }

  const weights: Obj = d.weights ?? {};
  const formats = Object.keys(weights).filter((k) => weights[k]);
  need(formats.length > 0, 'weights: missing');
  for (const f of formats) {
    need(WEIGHTS.includes(f), `weights: unknown format ${f}`);
    fileRef(weights[f], `weights.${f}`);
    if (weights[f].parent) need(formats.includes(weights[f].parent) && weights[f].parent !== f, `weights.${f}.parent ${weights[f].parent} is not another listed format`);
  }
  if (weights.onnx) need(Number.isInteger(weights.onnx.opset_version) && weights.onnx.opset_version >= 7, 'weights.onnx.opset_version: an integer >= 7');
  return v;
}
