import * as tf from '@tensorflow/tfjs-core';
import { hasKernel, normAxes, unbroadcast, zeroGrads } from './util.js';

type T = tf.Tensor;

function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => {
    inv[p] = i;
  });
  return inv;
}

function byIndex(fns: (() => T)[]): Record<string, () => T> {
  const out: Record<string, () => T> = {};
  fns.forEach((f, i) => {
    out[i] = f;
  });
  return out;
}

export const shapeGradients: tf.GradConfig[] = [
  {
    kernelName: 'Reshape',
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as T, x!.shape) }),
  },
  {
    kernelName: 'ExpandDims',
    inputsToSave: ['input'],
    gradFunc: (dy, [input]) => ({ input: () => tf.reshape(dy as T, input!.shape) }),
  },
  {
    kernelName: 'Transpose',
    gradFunc: (dy, _saved, attrs) => ({ x: () => tf.transpose(dy as T, inversePerm(attrs.perm as number[])) }),
  },
  {
    kernelName: 'BroadcastTo',
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => unbroadcast(dy as T, x!.shape) }),
  },
  {
    kernelName: 'Reverse',
    gradFunc: (dy, _saved, attrs) => ({ x: () => tf.reverse(dy as T, attrs.dims as number[]) }),
  },
  {
    kernelName: 'Concat',
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = normAxes(attrs.axis as number, saved[0]!.rank)[0]!;
      const sizes = saved.map((s) => s.shape[axis]!);
      const parts = tf.split(dy as T, sizes, axis);
      return byIndex(parts.map((p) => () => p));
    },
  },
  {
    kernelName: 'Pack',
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const parts = tf.unstack(dy as T, attrs.axis as number);
      return byIndex(saved.map((_, i) => () => parts[i]!));
    },
  },
  {
    kernelName: 'Unpack',
    gradFunc: (dy, _saved, attrs) => ({ value: () => tf.stack(dy as T[], attrs.axis as number) }),
  },
  {
    kernelName: 'SplitV',
    gradFunc: (dy, _saved, attrs) => ({ x: () => tf.concat(dy as T[], attrs.axis as number) }),
  },
  {
    kernelName: 'Slice',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const rank = x!.rank;
      const begin = Array.isArray(attrs.begin) ? (attrs.begin as number[]) : new Array(rank).fill(attrs.begin);
      const size = Array.isArray(attrs.size) ? (attrs.size as number[]) : new Array(rank).fill(attrs.size);
      const paddings = x!.shape.map((d, i) => {
        const b = begin[i] ?? 0;
        const s = size[i] === undefined || size[i] === -1 ? d - b : size[i];
        return [b, d - b - s] as [number, number];
      });
      return { x: () => tf.pad(dy as T, paddings) };
    },
  },
  {
    kernelName: 'PadV2',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const begin = (attrs.paddings as [number, number][]).map((p) => p[0]);
      return { x: () => tf.slice(dy as T, begin, x!.shape) };
    },
  },
  {
    kernelName: 'Tile',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const reps = attrs.reps as number[];
      // View dy as [reps0, x0, reps1, x1, ...] and sum the repetition axes.
      const split = x!.shape.flatMap((d, i) => [reps[i]!, d]);
      const axes = x!.shape.map((_, i) => 2 * i);
      return { x: () => tf.reshape(tf.sum(tf.reshape(dy as T, split), axes), x!.shape) };
    },
  },
  {
    kernelName: 'GatherV2',
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, [x, indices], attrs) => {
      if ((attrs.batchDims as number) !== 0) throw new Error('gather: gradients with batchDims > 0 are not supported');
      const axis = normAxes(attrs.axis as number, x!.rank)[0]!;
      const x0 = () => {
        // Move the gathered axis to the front, scatter-add, then move it back.
        const d = dy as T;
        const idxRank = indices!.rank;
        const outerPerm = [
          ...Array.from({ length: idxRank }, (_, i) => axis + i),
          ...Array.from({ length: axis }, (_, i) => i),
          ...Array.from({ length: x!.rank - axis - 1 }, (_, i) => axis + idxRank + i),
        ];
        const moved = tf.transpose(d, outerPerm);
        const rest = moved.shape.slice(idxRank);
        const flat = tf.reshape(moved, [indices!.size, ...rest]);
        const ids = tf.reshape(indices!, [-1]) as tf.Tensor1D;
        const n = x!.shape[axis]!;
        // wasm has no UnsortedSegmentSum kernel; there a one-hot matmul does the scatter-add
        // (cast afterwards: wasm's OneHot ignores a float32 dtype and returns zeros).
        const summed = hasKernel('UnsortedSegmentSum')
          ? tf.unsortedSegmentSum(flat, ids, n)
          : tf.reshape(
              tf.matMul(tf.cast(tf.oneHot(ids, n), 'float32'), tf.reshape(flat, [indices!.size, -1]), true, false),
              [n, ...rest],
            );
        const back = [
          ...Array.from({ length: axis }, (_, i) => i + 1),
          0,
          ...Array.from({ length: x!.rank - axis - 1 }, (_, i) => axis + 1 + i),
        ];
        return tf.transpose(summed, back);
      };
      return { x: x0, indices: () => tf.zeros(indices!.shape) };
    },
  },
  {
    kernelName: 'UnsortedSegmentSum',
    inputsToSave: ['segmentIds'],
    gradFunc: (dy, [segmentIds]) => ({
      x: () => tf.gather(dy as T, segmentIds!),
      segmentIds: () => tf.zeros(segmentIds!.shape),
    }),
  },
  zeroGrads('OneHot', ['indices']),
];
