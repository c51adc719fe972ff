import { isPlainObject } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';

/** A tree of parameter shapes: the same nesting as the parameters, shapes at the leaves. */
export type ShapeTree = readonly number[] | { readonly [key: string]: ShapeTree };

function isShape(x: ShapeTree): x is readonly number[] {
  return Array.isArray(x);
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Checks that `params` has exactly the structure and shapes of `expected` (each shape
 * prefixed by `lead`, the stacking axes of batched parameters). The error names the
 * task, the path and both shapes, so parameters of another task are caught at once.
 */
export function checkParamShapes(
  what: string,
  expected: ShapeTree,
  params: unknown,
  lead: readonly number[] = [],
  path = 'params',
): void {
  if (isShape(expected)) {
    if (!(params instanceof tf.Tensor)) {
      throw new Error(
        `${what}: ${path} should be a tensor of shape ${fmt([...lead, ...expected])}, got ${describe(params)}`,
      );
    }
    const want = [...lead, ...expected];
    if (params.shape.length !== want.length || params.shape.some((d: number, i: number) => d !== want[i])) {
      throw new Error(
        `${what}: ${path} has shape ${fmt(params.shape)} but this task expects ${fmt(want)} (parameters of another task?)`,
      );
    }
    if (params.dtype !== 'float32') throw new Error(`${what}: ${path} must be float32, got ${params.dtype}`);
    return;
  }
  if (!isPlainObject(params)) {
    throw new Error(
      `${what}: ${path} should be an object with keys [${Object.keys(expected).sort().join(', ')}], got ${describe(params)}`,
    );
  }
  const want = Object.keys(expected).sort();
  const got = Object.keys(params).sort();
  const missing = want.filter((k) => !(k in params));
  const extra = got.filter((k) => !(k in expected));
  if (missing.length || extra.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing [${missing.join(', ')}]`);
    if (extra.length) parts.push(`unexpected [${extra.join(', ')}]`);
    throw new Error(`${what}: ${path} has the wrong keys: ${parts.join('; ')} (parameters of another task?)`);
  }
  for (const k of want) {
    const sub = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}['${k}']`;
    checkParamShapes(what, expected[k]!, params[k], lead, sub);
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (x instanceof tf.Tensor) return `a tensor of shape ${fmt(x.shape)}`;
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (isPlainObject(x)) return `an object with keys [${Object.keys(x).sort().join(', ')}]`;
  return typeof x;
}

/** Checks that `x` is a tensor; the error names `path`. */
export function checkTensor(what: string, path: string, x: unknown): asserts x is tf.Tensor {
  if (!(x instanceof tf.Tensor)) throw new Error(`${what}: ${path} should be a tensor, got ${describe(x)}`);
}

/**
 * Checks an image batch against a task: `image` `[B, H, W, C]` float32 (or `[K, B, H, W, C]`
 * when `perMember`), `label` `[B]` (or `[K, B]`) int32 with the same B. Returns B.
 */
export function checkImageBatch(
  what: string,
  data: unknown,
  imageShape: readonly [number, number, number],
  leading: readonly number[] = [],
): number {
  if (!isPlainObject(data) || !('image' in data) || !('label' in data)) {
    throw new Error(`${what}: data should be a batch { image, label }, got ${describe(data)}`);
  }
  const { image, label } = data;
  checkTensor(what, 'data.image', image);
  checkTensor(what, 'data.label', label);
  const r = leading.length;
  const b = image.shape[r];
  const okImage =
    image.rank === r + 4 &&
    leading.every((d, i) => image.shape[i] === d) &&
    image.shape.slice(r + 1).every((d, i) => d === imageShape[i]);
  if (!okImage) {
    throw new Error(
      `${what}: data.image has shape ${fmt(image.shape)} but this task expects ${fmt([...leading, 'B' as unknown as number, ...imageShape])}`,
    );
  }
  if (image.dtype !== 'float32') throw new Error(`${what}: data.image must be float32, got ${image.dtype}`);
  if (label.rank !== r + 1 || label.shape[r] !== b || !leading.every((d, i) => label.shape[i] === d)) {
    throw new Error(`${what}: data.label has shape ${fmt(label.shape)} but data.image has shape ${fmt(image.shape)}`);
  }
  if (label.dtype !== 'int32') throw new Error(`${what}: data.label must be int32, got ${label.dtype}`);
  return b!;
}
