import * as tf from '@tensorflow/tfjs-core';

/**
 * Fused kernels: a hot computation (a task's loss and gradient, an optimizer step) run as
 * ONE tfjs kernel written in JavaScript over the inputs' data, calling the backend's own
 * matmul for the heavy products. tfjs spends microseconds of bookkeeping per op (tape,
 * scopes, saved-tensor clones), which dominates small meta-training problems; one fused
 * kernel replaces dozens of ops. Fused kernels run on the backends whose data JavaScript
 * can read synchronously (`cpu`, `wasm`). They are the kernels of ops (`defineOp`), which
 * decide where each one runs and fall back to the plain-op reference elsewhere.
 */

/** The backends fused kernels are registered for. */
export const FUSED_BACKENDS = ['cpu', 'wasm'] as const;

interface DataBackend {
  readSync(dataId: object): tf.backend_util.BackendValues;
  /** The wasm backend's Emscripten module (its memory and allocator). */
  wasm?: {
    asm?: { memory?: unknown };
    wasmMemory?: unknown;
    _malloc?(bytes: number): number;
    _free?(at: number): void;
  };
  /** The wasm backend's table of tensor data (each entry's byte offset in its memory). */
  dataIdMap?: { get(dataId: object): { memoryOffset?: number | null } | undefined };
  disposeData(dataId: object, force?: boolean): boolean;
  makeOutput?(
    shape: number[],
    dtype: tf.DataType,
    memoryOffset?: number,
    values?: tf.backend_util.BackendValues,
  ): tf.TensorInfo;
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  /** wasm: a tensor's values as a view of the backend's heap (no copy). */
  typedArrayFromHeap?(info: tf.TensorInfo): tf.backend_util.TypedArray;
}

/** A 2-D float32 matrix held in JavaScript (row-major). */
export interface Mat {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** What a fused kernel's body gets: its inputs as arrays and the backend's matmul. */
export interface FusedContext {
  /** An input's values (float32 or int32). Read-only: the array may be shared between calls. */
  input(name: string): Float32Array | Int32Array;
  /**
   * An input's values without a copy where the backend keeps them in JavaScript-visible
   * memory (on wasm, a view of its heap), else as `input` gives them. Read-only, and valid
   * only until the backend next allocates (`output`, `matMul`, `mlp`, `dense` allocate):
   * take every view after the last of those.
   */
  inputView(name: string): Float32Array | Int32Array;
  /**
   * A new float32 output of `shape` for the body to write in place and return among its
   * outputs (this object itself): on wasm it lives in the backend's heap, so no copy is
   * made when the kernel returns. An array read from `values` is valid only until the
   * backend next allocates, like `inputView`'s; reading `values` again gives a valid one.
   */
  output(shape: number[]): FusedOutput;
  /** An input's shape. */
  shape(name: string): number[];
  /** `op(a) @ op(b)` on the backend's matmul kernel, `op` transposing when asked. */
  matMul(a: Mat, b: Mat, transposeA?: boolean, transposeB?: boolean): Mat;
  /**
   * A dense network on the backend: `x @ w0 + b0`, ReLU, `@ w1 + b1`, ReLU, ... (no
   * activation after the last layer), each layer one fused matmul + bias + activation
   * kernel. Only `x` goes into the backend's memory and only the last layer's output comes
   * back: the hidden activations stay where the matmuls run.
   */
  mlp(x: Mat, layers: readonly DenseLayer[]): Mat;
  /**
   * One dense layer on the backend: `x @ w + b`, then ReLU when `activation` is `'relu'`,
   * as one fused matmul + bias + activation kernel (no separate passes over the output in
   * JavaScript). The backend may add the bias before the products rather than after, so
   * the result can differ from `matMul` followed by the bias in float32 round-off.
   */
  dense(x: Mat, layer: DenseLayer, activation: 'relu' | 'linear'): Mat;
  /**
   * On the wasm backend, its linear memory, for a kernel compiled to WebAssembly that
   * imports that memory and works on the inputs and outputs where they are (no copies in
   * or out); absent on other backends.
   */
  heap?: FusedHeap;
}

/**
 * The wasm backend's linear memory as seen by a fused kernel. Allocating (`output`,
 * `scratch`) may grow the memory and so detach earlier views of `memory.buffer`: allocate
 * first, then view.
 */
export interface FusedHeap {
  /** The backend's memory. */
  memory: WebAssembly.Memory;
  /** Byte offset of an input's data in `memory`. */
  offset(name: string): number;
  /**
   * A float32 output of `shape` allocated in `memory` at byte offset `offset`, uninitialised:
   * the kernel writes it there and returns `output` among its outputs as it is.
   */
  output(shape: number[]): { output: FusedOutput; offset: number };
  /** Byte offset of `bytes` bytes of scratch in `memory` (16-byte aligned), freed when the kernel returns. */
  scratch(bytes: number): number;
}

/** A dense layer for `FusedContext.mlp`: weights `[fanIn, fanOut]` and a bias `[fanOut]`. */
export interface DenseLayer {
  w: Mat;
  b: Float32Array;
}

/** One output of a fused kernel. */
export interface FusedOutput {
  values: Float32Array;
  shape: number[];
}

/** The transpose of a matrix. */
export function transpose(m: Mat): Mat {
  const out = new Float32Array(m.data.length);
  const { rows, cols, data } = m;
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) out[j * rows + i] = data[row + j]!;
  }
  return { data: out, rows: cols, cols: rows };
}

function makeInfo(backend: DataBackend, shape: number[], values: Float32Array): tf.TensorInfo {
  // makeTensorInfo first: cpu also has a makeOutput, but with another signature
  // (values, shape, dtype) that returns a tensor rather than a tensor info.
  if (backend.makeTensorInfo) return backend.makeTensorInfo(shape, 'float32', values);
  if (backend.makeOutput) return backend.makeOutput(shape, 'float32', undefined, values);
  throw new Error('fused kernel: this backend cannot make tensors from JavaScript data');
}

// tfjs data is immutable once written (every op makes a new buffer), so an input's
// values can be read once and shared by every fused kernel that gets the same data (the
// batch and the params reach several kernels per step). The values hang off the data id
// under a private symbol and go away with it: a property read per input, where a weak
// map's lookups and insertions cost more than the small reads they save.
const CACHED = Symbol('lopt.fusedValues');
type CachingDataId = { [CACHED]?: Float32Array | Int32Array };

function readCached(backend: DataBackend, info: tf.TensorInfo): Float32Array | Int32Array {
  const id = info.dataId as CachingDataId;
  let values = id[CACHED];
  if (!values) {
    const raw = backend.readSync(info.dataId);
    if (info.dtype === 'int32') values = raw instanceof Int32Array ? raw : Int32Array.from(raw as ArrayLike<number>);
    else values = raw instanceof Float32Array ? raw : Float32Array.from(raw as ArrayLike<number>);
    id[CACHED] = values;
  }
  return values;
}

/**
 * What one kernel call allocated in the backend: outputs made by `FusedContext.output`
 * (their tensor infos, by output object) and, on wasm, scratch (`FusedHeap.scratch`).
 * Outputs not returned, and everything when the body throws, are freed with the scratch.
 */
interface CallAllocations {
  outputs: Map<FusedOutput, tf.TensorInfo>;
  scratch: number[];
}

/** The wasm backend's memory for a kernel call, or undefined on other backends. */
function wasmHeap(
  backend: DataBackend,
  inputs: tf.NamedTensorInfoMap,
  call: CallAllocations,
  output: (shape: number[]) => FusedOutput,
): FusedHeap | undefined {
  const w = backend.wasm;
  const memory = w?.wasmMemory ?? w?.asm?.memory;
  const map = backend.dataIdMap;
  if (!(memory instanceof WebAssembly.Memory) || !w?._malloc || !w._free || !map || !backend.makeOutput)
    return undefined;
  const malloc = w._malloc.bind(w);
  const offsetOf = (dataId: object) => {
    const at = map.get(dataId)?.memoryOffset;
    if (typeof at !== 'number') throw new Error('fused kernel: a tensor has no data in the wasm backend memory');
    return at >>> 0;
  };
  return {
    memory,
    offset(name) {
      const info = inputs[name];
      if (!info) throw new Error(`fused kernel: missing input '${name}'`);
      return offsetOf(info.dataId);
    },
    output(shape) {
      // The context's own outputs, so both ways of making one are freed and returned alike.
      const out = output(shape);
      return { output: out, offset: offsetOf(call.outputs.get(out)!.dataId) };
    },
    scratch(bytes) {
      // malloc aligns to 8 bytes: 15 more bytes give a 16-byte aligned start.
      const at = malloc(bytes + 15) >>> 0;
      call.scratch.push(at);
      return (at + 15) & ~15;
    },
  };
}

function context(
  backend: DataBackend,
  backendName: string,
  inputs: tf.NamedTensorInfoMap,
  call: CallAllocations,
): FusedContext {
  const matMulKernel = tf.getKernel('BatchMatMul', backendName);
  if (!matMulKernel) throw new Error(`fused kernel: backend '${backendName}' has no BatchMatMul kernel`);
  const fusedMatMulKernel = tf.getKernel('_FusedMatMul', backendName);
  // Operands are often transposed more than once in one kernel (a layer's input, say).
  const transposed = new WeakMap<Mat, Mat>();
  const t = (m: Mat) => {
    let out = transposed.get(m);
    if (!out) {
      out = transpose(m);
      transposed.set(m, out);
    }
    return out;
  };
  const output = (shape: number[]): FusedOutput => {
    const size = shape.reduce((a, b) => a * b, 1);
    let out: FusedOutput;
    let info: tf.TensorInfo;
    const fromHeap = backend.typedArrayFromHeap?.bind(backend);
    if (fromHeap && backend.makeOutput) {
      // wasm: allocated in the heap and written there in place. Growing the heap detaches
      // its views (their length drops to 0): `values` then makes a new one.
      const heapInfo = backend.makeOutput(shape, 'float32');
      let view = fromHeap(heapInfo) as Float32Array;
      info = heapInfo;
      out = {
        shape,
        get values() {
          if (view.length !== size) view = fromHeap(heapInfo) as Float32Array;
          return view;
        },
      };
    } else {
      const values = new Float32Array(size);
      info = makeInfo(backend, shape, values);
      out = { values, shape };
    }
    call.outputs.set(out, info);
    return out;
  };
  const heap = backendName === 'wasm' ? wasmHeap(backend, inputs, call, output) : undefined;
  return {
    ...(heap ? { heap } : {}),
    output,
    input(name) {
      const info = inputs[name];
      if (!info) throw new Error(`fused kernel: missing input '${name}'`);
      return readCached(backend, info);
    },
    inputView(name) {
      const info = inputs[name];
      if (!info) throw new Error(`fused kernel: missing input '${name}'`);
      const id = info.dataId as CachingDataId;
      if (id[CACHED] || !backend.typedArrayFromHeap) return readCached(backend, info);
      return backend.typedArrayFromHeap(info) as Float32Array | Int32Array;
    },
    shape(name) {
      const info = inputs[name];
      if (!info) throw new Error(`fused kernel: missing input '${name}'`);
      return info.shape.slice();
    },
    matMul(a, b, transposeA = false, transposeB = false) {
      // Transposing in JavaScript first is cheaper than the kernels' transposed paths
      // (on wasm they are several times slower than a plain product at these sizes).
      const at = transposeA ? t(a) : a;
      const bt = transposeB ? t(b) : b;
      const ai = makeInfo(backend, [at.rows, at.cols], at.data);
      const bi = makeInfo(backend, [bt.rows, bt.cols], bt.data);
      const out = matMulKernel.kernelFunc({
        inputs: { a: ai, b: bi },
        backend: backend as unknown as tf.KernelBackend,
        attrs: { transposeA: false, transposeB: false },
      }) as tf.TensorInfo;
      const values = backend.readSync(out.dataId) as Float32Array;
      backend.disposeData(ai.dataId);
      backend.disposeData(bi.dataId);
      backend.disposeData(out.dataId);
      return { data: values, rows: out.shape[out.shape.length - 2]!, cols: out.shape[out.shape.length - 1]! };
    },
    dense(x, layer, activation) {
      if (!fusedMatMulKernel) throw new Error(`fused kernel: backend '${backendName}' has no _FusedMatMul kernel`);
      const ai = makeInfo(backend, [1, x.rows, x.cols], x.data);
      const wi = makeInfo(backend, [1, layer.w.rows, layer.w.cols], layer.w.data);
      const bi = makeInfo(backend, [layer.b.length], layer.b);
      let out: tf.TensorInfo | undefined;
      try {
        out = fusedMatMulKernel.kernelFunc({
          inputs: { a: ai, b: wi, bias: bi },
          backend: backend as unknown as tf.KernelBackend,
          attrs: { transposeA: false, transposeB: false, activation },
        }) as tf.TensorInfo;
        return { data: backend.readSync(out.dataId) as Float32Array, rows: x.rows, cols: layer.w.cols };
      } finally {
        for (const t of [ai, wi, bi]) backend.disposeData(t.dataId);
        if (out) backend.disposeData(out.dataId);
      }
    },
    mlp(x, layers) {
      if (!fusedMatMulKernel) throw new Error(`fused kernel: backend '${backendName}' has no _FusedMatMul kernel`);
      const temps: tf.TensorInfo[] = [];
      const info = (shape: number[], values: Float32Array) => {
        const t = makeInfo(backend, shape, values);
        temps.push(t);
        return t;
      };
      try {
        // Rank 3 (a batch of one): the fused kernels index the last two dims.
        let h = info([1, x.rows, x.cols], x.data);
        layers.forEach((l, i) => {
          const out = fusedMatMulKernel.kernelFunc({
            inputs: { a: h, b: info([1, l.w.rows, l.w.cols], l.w.data), bias: info([l.b.length], l.b) },
            backend: backend as unknown as tf.KernelBackend,
            attrs: { transposeA: false, transposeB: false, activation: i < layers.length - 1 ? 'relu' : 'linear' },
          }) as tf.TensorInfo;
          temps.push(out);
          h = out;
        });
        const values = backend.readSync(h.dataId) as Float32Array;
        return { data: values, rows: x.rows, cols: h.shape[h.shape.length - 1]! };
      } finally {
        for (const t of temps) backend.disposeData(t.dataId);
      }
    },
  };
}

/**
 * Registers a fused kernel named `kernelName` on the cpu and wasm backends. `body`
 * receives the inputs and returns the outputs; their gradient, if any, is registered
 * separately with `tf.registerGradient`.
 */
export function registerFusedKernel(
  kernelName: string,
  body: (ctx: FusedContext, attrs: tf.NamedAttrMap) => FusedOutput[],
): void {
  for (const backendName of FUSED_BACKENDS) {
    if (tf.getKernel(kernelName, backendName)) continue;
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as DataBackend;
        const call: CallAllocations = { outputs: new Map(), scratch: [] };
        let returned: tf.TensorInfo[] = [];
        try {
          const outs = body(context(b, backendName, inputs, call), attrs ?? {});
          returned = outs.map((o) => call.outputs.get(o) ?? makeInfo(b, o.shape, o.values));
          return returned;
        } finally {
          for (const at of call.scratch) b.wasm?._free?.(at);
          // Outputs made but not returned (or all of them, when the body threw).
          for (const info of call.outputs.values()) if (!returned.includes(info)) b.disposeData(info.dataId);
        }
      },
    });
  }
}

/**
 * The body of a fused kernel for K problems stacked on a leading axis, from the body of
 * one problem (the kernel-level `vmap` of its math): every input is split along its
 * leading axis of K (`attrs.problems`), `body` runs on each problem's slices (views, not
 * copies) with the same attributes, and each output is stacked to `[K, ...shape]`. The
 * values are those of K calls of the single-problem kernel, for one op's bookkeeping and
 * none of the K calls' slices and stacks.
 */
export function stackedFusedBody(
  body: (ctx: FusedContext, attrs: tf.NamedAttrMap) => FusedOutput[],
): (ctx: FusedContext, attrs: tf.NamedAttrMap) => FusedOutput[] {
  return (ctx, attrs) => {
    const K = attrs.problems as number;
    if (!Number.isInteger(K) || K < 1) throw new Error(`stacked fused kernel: attrs.problems must be K >= 1, got ${K}`);
    // Each problem's outputs are copied out before the next problem runs: a body may return
    // views of scratch memory that its next call overwrites.
    let stacked: FusedOutput[] = [];
    for (let q = 0; q < K; q++) {
      const sub: FusedContext = {
        input(name) {
          const x = ctx.input(name);
          const n = x.length / K;
          return x.subarray(q * n, (q + 1) * n);
        },
        shape(name) {
          const shape = ctx.shape(name);
          if (shape[0] !== K) {
            throw new Error(
              `stacked fused kernel: input '${name}' has shape [${shape.join(', ')}], not ${K} problems on axis 0`,
            );
          }
          return shape.slice(1);
        },
        inputView(name) {
          const x = ctx.inputView(name);
          const n = x.length / K;
          return x.subarray(q * n, (q + 1) * n);
        },
        // Each problem's outputs are copied into the stacked ones: plain arrays.
        output: (shape) => ({ values: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape }),
        matMul: (a, b, ta, tb) => ctx.matMul(a, b, ta, tb),
        mlp: (x, layers) => ctx.mlp(x, layers),
        dense: (x, layer, act) => ctx.dense(x, layer, act),
      };
      const outs = body(sub, attrs);
      if (q === 0) {
        stacked = outs.map((o) => ({ values: new Float32Array(o.values.length * K), shape: [K, ...o.shape] }));
      }
      outs.forEach((o, j) => stacked[j]!.values.set(o.values, q * o.values.length));
    }
    return stacked;
  };
}

/**
 * `ctx` with its `matMul` taking the transposes of its operands from `cache` (computing
 * and storing those it lacks), so that kernels multiplying the same matrices (a forward
 * kernel and its VJP replaying a recorded pass) transpose each one once. A matrix is
 * looked up by identity: one given transposed must not change afterwards.
 */
export function sharingTransposes(ctx: FusedContext, cache: WeakMap<Mat, Mat>): FusedContext {
  const t = (m: Mat) => {
    let out = cache.get(m);
    if (!out) {
      out = transpose(m);
      cache.set(m, out);
    }
    return out;
  };
  // Everything else is ctx's own (its methods are closures, not bound to the object).
  return {
    ...ctx,
    matMul: (a, b, transposeA = false, transposeB = false) =>
      ctx.matMul(transposeA ? t(a) : a, transposeB ? t(b) : b, false, false),
  };
}

/** True when `kernelName` is registered for the active backend. */
export function kernelRegistered(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}

/** Runs a (multi-output) kernel and returns its outputs as tensors. */
export function runFusedKernel(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: object = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(kernelName, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap);
  return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
}
