import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { packTree, unpackTree } from './thread-tree.js';

describe('packTree / unpackTree', () => {
  test('a state pytree crosses a structured clone with its values, dtypes and plain leaves, leak-free', () => {
    const before = tf.memory().numTensors;
    const tree = {
      a: tf.tensor([1.5, -2, 3.25], [3]),
      nested: [tf.tensor([[1, 2]], [1, 2], 'int32'), tf.tensor([true, false], [2], 'bool'), 7, 'x', null, undefined],
      key: new Uint32Array([1, 2]),
      scalar: tf.scalar(0.5),
    };
    const transfer: ArrayBuffer[] = [];
    const packed = packTree(tree, transfer);
    expect(transfer).toHaveLength(4);
    const back = unpackTree(structuredClone(packed, { transfer })) as typeof tree;
    // The transfer detached the copies, never the tensors' own memory.
    expect(Array.from(tree.a.dataSync())).toEqual([1.5, -2, 3.25]);
    expect(Array.from(back.a.dataSync())).toEqual([1.5, -2, 3.25]);
    expect(back.nested[0]).toBeInstanceOf(tf.Tensor);
    const i32 = back.nested[0] as tf.Tensor;
    expect([i32.dtype, i32.shape, Array.from(i32.dataSync())]).toEqual(['int32', [1, 2], [1, 2]]);
    const b = back.nested[1] as tf.Tensor;
    expect([b.dtype, Array.from(b.dataSync())]).toEqual(['bool', [1, 0]]);
    expect(back.nested.slice(2)).toEqual([7, 'x', null, undefined]);
    expect(Array.from(back.key)).toEqual([1, 2]);
    expect(back.scalar.shape).toEqual([]);
    tf.dispose([tree.a, tree.nested[0] as tf.Tensor, tree.nested[1] as tf.Tensor, tree.scalar]);
    tf.dispose([back.a, back.nested[0] as tf.Tensor, back.nested[1] as tf.Tensor, back.scalar]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('what a thread could not rebuild is a clear error naming its path', () => {
    class Box {
      v = 1;
    }
    expect(() => packTree({ s: [0, new Box()] }, [])).toThrow(
      /cannot send the value at \.s\[1\] \(\[object Object\]\)/,
    );
    expect(() => packTree({ f: () => 1 }, [])).toThrow(/cannot send the value at \.f/);
    const t = tf.scalar(1);
    t.dispose();
    expect(() => packTree({ t }, [])).toThrow(/the tensor at \.t is disposed/);
  });
});
