import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from './fast-op.js';

/** The parts of tfjs-backend-wasm's backend these kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const SLICING_KERNELS = ['Slice', 'Unpack', 'SplitV', 'Concat'] as const;
const installed = new WeakSet<tf.KernelFunc>();

/**
 * Copies `x[begin : begin + size]` into a new tensor through views of the wasm heap.
 * tfjs-backend-wasm's own slice first copies all of `x` out of the heap (`readSync`), so
 * unstacking K problems copies the whole stack K times; in meta-training that garbage
 * (tens of MB per PES estimate) keeps V8's collector busy on every core.
 */
function sliceViaHeap(b: WasmBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  // The output first: allocating may grow the heap, which detaches views taken before.
  const out = b.makeOutput(size, x.dtype);
  const n = tf.util.sizeFromShape(size);
  if (n === 0) return out;
  const xv = b.typedArrayFromHeap(x);
  const ov = b.typedArrayFromHeap(out);
  const strides = tf.util.computeStrides(x.shape);
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const off = tf.slice_util.computeFlatOffset(begin, strides);
    ov.set(xv.subarray(off, off + n));
    return out;
  }
  // Row by row along the last axis, odometer over the others.
  const rank = x.shape.length;
  const inner = size[rank - 1]!;
  const idx = new Array<number>(rank - 1).fill(0);
  for (let o = 0; o < n; o += inner) {
    let off = begin[rank - 1]!;
    for (let d = 0; d < rank - 1; d++) off += (begin[d]! + idx[d]!) * strides[d]!;
    ov.set(xv.subarray(off, off + inner), o);
    for (let d = rank - 2; d >= 0; d--) {
      if (++idx[d]! < size[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Concatenates `inputs` (non-empty, on the heap, `rows` rows before `axis`) along `axis`
 * into `out`, input by input, through views of the wasm heap. tfjs-backend-wasm's own
 * kernel copies one `subarray` per input per row: concatenating per-element features
 * along the last axis of a million-element tensor makes ten million small views, most of
 * the cost of a Celo2 step. Rows of a few elements are copied element by element instead.
 */
function concatViaHeap(b: WasmBackend, inputs: tf.TensorInfo[], axis: number, rows: number, out: tf.TensorInfo): void {
  const inner = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
  const width = inner.reduce((a, k) => a + k, 0);
  // Every input's view after the output exists (see sliceViaHeap).
  const ov = b.typedArrayFromHeap(out);
  let at = 0;
  inputs.forEach((t, i) => {
    const x = b.typedArrayFromHeap(t);
    const k = inner[i]!;
    if (k === 1) {
      for (let r = 0, o = at; r < rows; r++, o += width) ov[o] = x[r]!;
    } else if (k < 32) {
      for (let r = 0, o = at, s = 0; r < rows; r++, o += width, s += k)
        for (let j = 0; j < k; j++) ov[o + j] = x[s + j]!;
    } else {
      for (let r = 0; r < rows; r++) ov.set(x.subarray(r * k, r * k + k), at + r * width);
    }
    at += k;
  });
}

/** Strings live outside the heap: they keep the stock kernels. */
const onHeap = (x: tf.TensorInfo) => x.dtype === 'float32' || x.dtype === 'int32' || x.dtype === 'bool';

function makeKernels(stock: Record<string, tf.KernelFunc>): Record<string, tf.KernelFunc> {
  return {
    Slice: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (!fastPathsEnabled() || !onHeap(x)) return stock.Slice!(args);
      const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
      const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
      return sliceViaHeap(args.backend as unknown as WasmBackend, x, b, s);
    },
    Unpack: (args) => {
      const value = args.inputs.value as tf.TensorInfo;
      if (!fastPathsEnabled() || !onHeap(value)) return stock.Unpack!(args);
      const rank = value.shape.length;
      let axis = (args.attrs as unknown as tf.UnpackAttrs).axis;
      if (axis < 0) axis += rank;
      const outShape = value.shape.filter((_, i) => i !== axis);
      const begin = new Array<number>(rank).fill(0);
      const size = value.shape.slice();
      size[axis] = 1;
      const outs: tf.TensorInfo[] = [];
      for (let i = 0; i < value.shape[axis]!; i++) {
        begin[axis] = i;
        const o = sliceViaHeap(args.backend as unknown as WasmBackend, value, begin, size);
        outs.push({ dataId: o.dataId, dtype: o.dtype, shape: outShape });
      }
      return outs;
    },
    SplitV: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (!fastPathsEnabled() || !onHeap(x)) return stock.SplitV!(args);
      const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
      const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
      const begin = new Array<number>(x.shape.length).fill(0);
      return sizes.map((s) => {
        const size = x.shape.slice();
        size[ax] = s;
        const o = sliceViaHeap(args.backend as unknown as WasmBackend, x, begin, size);
        begin[ax]! += s;
        return o;
      });
    },
    Concat: (args) => {
      const inputs = args.inputs as unknown as tf.TensorInfo[];
      if (!fastPathsEnabled() || inputs.length === 0 || !inputs.every(onHeap)) return stock.Concat!(args);
      const shapes = inputs.map((t) => t.shape);
      const axis = tf.util.parseAxisParam((args.attrs as unknown as tf.ConcatAttrs).axis, shapes[0]!)[0]!;
      tf.backend_util.assertParamsConsistent(shapes, axis);
      const nonEmpty = inputs.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
      const rows = tf.util.sizeFromShape(shapes[0]!.slice(0, axis));
      // One input (the identity), or whole tensors one after another: the stock kernel copies those in one go.
      if (nonEmpty.length < 2 || rows === 1) return stock.Concat!(args);
      const b = args.backend as unknown as WasmBackend;
      const out = b.makeOutput(tf.backend_util.computeOutShape(shapes, axis), inputs[0]!.dtype);
      concatViaHeap(b, nonEmpty, axis, rows, out);
      return out;
    },
  };
}

/**
 * Replaces tfjs-backend-wasm's `Slice`, `Unpack`, `SplitV` and `Concat` kernels by ones that copy
 * only the selected elements, through views of the wasm heap (the stock slicing kernels
 * copy the whole input out of the heap first, once per output; the stock `Concat` makes
 * one view per input per row). Values are the same bit for bit;
 * with fast paths off (`LOPT_FAST_PATHS=off`) the stock kernels run. `setupBackend`
 * calls it for the wasm backend; it does nothing when the wasm backend's kernels are not
 * registered, and nothing the second time.
 */
export function registerWasmSlicing(): void {
  const stock: Record<string, tf.KernelFunc> = {};
  for (const name of SLICING_KERNELS) {
    const k = tf.getKernel(name, 'wasm');
    if (!k || installed.has(k.kernelFunc)) return;
    stock[name] = k.kernelFunc;
  }
  const kernels = makeKernels(stock);
  for (const name of SLICING_KERNELS) {
    const kernelFunc = kernels[name]!;
    installed.add(kernelFunc);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc });
  }
}
