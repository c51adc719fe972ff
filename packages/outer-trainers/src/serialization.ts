import { isPlainObject } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A JSON-safe encoding of a state pytree. Tensors become
 * `{"$tensor": {"dtype", "shape", "data"}}` with `data` the base64 of their
 * little-endian bytes (float32, int32, or one byte per bool); PRNG keys and other
 * `Uint32Array`s become `{"$u32": [...]}`; `undefined` becomes `{"$undefined": true}`;
 * non-finite numbers become `{"$num": "NaN" | "Infinity" | "-Infinity"}`. Everything else
 * (plain objects, arrays, finite numbers, strings, booleans, null) is kept as is.
 */
export type EncodedTree = unknown;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

// Node's Buffer, where there is one, converts in native code, many times faster than the
// loops below (which browsers run): estimates and theta cross Redis as base64 on every step.
interface NodeBufferClass {
  from(data: ArrayBuffer, byteOffset: number, length: number): { toString(encoding: 'base64'): string };
  from(data: string, encoding: 'base64'): Uint8Array;
}
const NodeBuffer = (globalThis as { Buffer?: NodeBufferClass }).Buffer;
const BASE64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;

/** Base64 of bytes (Node's Buffer where present; plain code in browsers). */
export function bytesToBase64(bytes: Uint8Array): string {
  if (NodeBuffer)
    return NodeBuffer.from(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += `${B64[(n >> 18) & 63]!}${B64[(n >> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += `${B64[(n >> 18) & 63]!}${B64[(n >> 12) & 63]!}${B64[(n >> 6) & 63]!}=`;
  }
  return out;
}

const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** Bytes of a base64 string (a new buffer of exactly those bytes); throws on characters outside the alphabet. */
export function base64ToBytes(s: string): Uint8Array {
  // Buffer skips characters outside the alphabet silently: only text already known to be
  // clean goes to it, the rest to the loop below, which names the culprit.
  if (NodeBuffer && s.length % 4 !== 1 && BASE64_TEXT.test(s)) return new Uint8Array(NodeBuffer.from(s, 'base64'));
  return base64ToBytesPlain(s);
}

function base64ToBytesPlain(s: string): Uint8Array {
  const clean = s.replace(/=+$/, '');
  if (clean.length % 4 === 1) throw new Error('base64: truncated data');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < clean.length; i += 4) {
    let n = 0;
    const len = Math.min(4, clean.length - i);
    for (let j = 0; j < 4; j++) {
      const c = j < len ? clean.charCodeAt(i + j) : 65;
      const v = c < 128 ? B64_INDEX[c]! : -1;
      if (v < 0) throw new Error(`base64: invalid character '${clean[i + j]}'`);
      n = (n << 6) | (j < len ? v : 0);
    }
    out[o++] = (n >> 16) & 255;
    if (len > 2) out[o++] = (n >> 8) & 255;
    if (len > 3) out[o++] = n & 255;
  }
  return out;
}

function tensorBytes(t: tf.Tensor): Uint8Array {
  const d = t.dataSync();
  if (t.dtype === 'float32' || t.dtype === 'int32') {
    return new Uint8Array(d.buffer as ArrayBuffer, d.byteOffset, d.byteLength).slice();
  }
  if (t.dtype === 'bool') return Uint8Array.from(d as ArrayLike<number>);
  throw new Error(`encodeTree: tensors of dtype ${t.dtype} cannot be stored`);
}

/** Encodes a state pytree as JSON-safe data (see `EncodedTree`). */
export function encodeTree(tree: unknown, path = ''): EncodedTree {
  if (tree === undefined) return { $undefined: true };
  if (tree === null || typeof tree === 'string' || typeof tree === 'boolean') return tree;
  if (typeof tree === 'number') return Number.isFinite(tree) ? tree : { $num: String(tree) };
  if (tree instanceof tf.Tensor) {
    if (tree.isDisposed) throw new Error(`encodeTree: the tensor at ${path || '<root>'} is disposed`);
    return { $tensor: { dtype: tree.dtype, shape: tree.shape, data: bytesToBase64(tensorBytes(tree)) } };
  }
  if (tree instanceof Uint32Array) return { $u32: Array.from(tree) };
  if (Array.isArray(tree)) return tree.map((x, i) => encodeTree(x, `${path}[${i}]`));
  if (isPlainObject(tree)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(tree).sort()) out[k] = encodeTree(tree[k], `${path}.${k}`);
    return out;
  }
  throw new Error(
    `encodeTree: cannot store the value at ${path || '<root>'} (${Object.prototype.toString.call(tree)})`,
  );
}

/** Rebuilds a state pytree from `encodeTree`'s output (tensors are new). */
export function decodeTree(enc: EncodedTree, path = ''): unknown {
  if (enc === null || typeof enc !== 'object') return enc;
  if (Array.isArray(enc)) return enc.map((x, i) => decodeTree(x, `${path}[${i}]`));
  const o = enc as Record<string, unknown>;
  if ('$undefined' in o) return undefined;
  if ('$num' in o) return Number(o.$num);
  if ('$u32' in o) return Uint32Array.from(o.$u32 as number[]);
  if ('$tensor' in o) {
    const { dtype, shape, data } = o.$tensor as { dtype: tf.DataType; shape: number[]; data: string };
    const bytes = base64ToBytes(data);
    const size = shape.reduce((a, b) => a * b, 1);
    const width = dtype === 'bool' ? 1 : 4;
    if (bytes.length !== size * width) {
      throw new Error(
        `decodeTree: the tensor at ${path || '<root>'} has ${bytes.length} bytes, expected ${size * width} for shape [${shape.join(', ')}] ${dtype}`,
      );
    }
    if (dtype === 'float32') return tf.tensor(new Float32Array(bytes.buffer), shape, 'float32');
    if (dtype === 'int32') return tf.tensor(new Int32Array(bytes.buffer), shape, 'int32');
    if (dtype === 'bool') return tf.tensor(bytes, shape, 'bool');
    throw new Error(`decodeTree: unsupported dtype ${dtype} at ${path || '<root>'}`);
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = decodeTree(o[k], `${path}.${k}`);
  return out;
}
