import * as tf from '@tensorflow/tfjs-core';

/** A tensor as `postMessage` carries it between threads: its dtype, shape and a copy of its values. */
export interface PackedTensor {
  /** Marks the packed tensor. */
  $tensor: true;
  /** The tensor's dtype (`float32`, `int32` or `bool`). */
  dtype: 'float32' | 'int32' | 'bool';
  /** The tensor's shape. */
  shape: number[];
  /** A copy of the values, owned by the message (its buffer is transferred, not copied again). */
  data: Float32Array | Int32Array | Uint8Array;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * Packs a state pytree for `postMessage`: every tensor becomes a `PackedTensor` (a copy
 * of its values, whose buffer is pushed onto `transfer`), everything else is kept as is.
 * Only what the structured clone keeps exactly is accepted (numbers, strings, booleans,
 * `null`, `undefined`, arrays, plain objects, `Uint32Array` keys), as `encodeTree`
 * accepts for checkpoints; anything else (a class instance would lose its prototype)
 * is an error naming its path.
 */
export function packTree(tree: unknown, transfer: ArrayBuffer[], path = ''): unknown {
  if (tree === undefined || tree === null) return tree;
  const t = typeof tree;
  if (t === 'number' || t === 'string' || t === 'boolean') return tree;
  if (tree instanceof tf.Tensor) {
    if (tree.isDisposed) throw new Error(`packTree: the tensor at ${path || '<root>'} is disposed`);
    if (tree.dtype !== 'float32' && tree.dtype !== 'int32' && tree.dtype !== 'bool') {
      throw new Error(`packTree: tensors of dtype ${tree.dtype} cannot be sent (at ${path || '<root>'})`);
    }
    // dataSync may return the backend's own buffer: copy, so the transfer never detaches it.
    const data = (tree.dataSync() as Float32Array | Int32Array | Uint8Array).slice();
    transfer.push(data.buffer as ArrayBuffer);
    return { $tensor: true, dtype: tree.dtype, shape: tree.shape.slice(), data } satisfies PackedTensor;
  }
  if (tree instanceof Uint32Array) return tree.slice();
  if (Array.isArray(tree)) return tree.map((x, i) => packTree(x, transfer, `${path}[${i}]`));
  if (isPlainObject(tree)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(tree)) out[k] = packTree(tree[k], transfer, `${path}.${k}`);
    return out;
  }
  throw new Error(
    `packTree: cannot send the value at ${path || '<root>'} (${Object.prototype.toString.call(tree)}) to a thread`,
  );
}

/** Rebuilds a pytree from `packTree`'s output on the receiving thread (its tensors are new, owned by the caller). */
export function unpackTree(packed: unknown): unknown {
  if (packed === null || typeof packed !== 'object') return packed;
  if (packed instanceof Uint32Array) return packed;
  if (Array.isArray(packed)) return packed.map(unpackTree);
  const o = packed as Record<string, unknown>;
  if (o.$tensor === true) {
    const p = o as unknown as PackedTensor;
    return tf.tensor(p.data, p.shape, p.dtype);
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = unpackTree(o[k]);
  return out;
}
