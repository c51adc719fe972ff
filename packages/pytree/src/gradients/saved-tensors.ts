import * as tf from '@tensorflow/tfjs-core';

/**
 * Cheaper saved tensors for the tape. tfjs keeps every tensor a gradient needs by running
 * an Identity kernel on it (`clone`), one full kernel dispatch per saved input of every
 * op. Inside lopt's `valueAndGrad` the copy is made instead as a second tensor over the
 * same data (a reference count, no kernel). Its tape node still links it to the original,
 * and its gradient is a real `clone`, so gradients of gradients see the same graph.
 */

interface TapeEngine {
  state: { tensorInfo: Map<object, { backend: { incRef(dataId: object): void } }> };
  makeTensorFromTensorInfo(info: tf.TensorInfo): tf.Tensor;
  addTapeNode(
    kernelName: string,
    inputs: tf.NamedTensorMap,
    outputs: tf.Tensor[],
    gradFunc: (dy: tf.Tensor) => Record<string, () => tf.Tensor>,
    saved: tf.Tensor[],
    attrs: tf.NamedAttrMap,
  ): void;
  keep<T extends tf.Tensor>(t: T): T;
  saveTensorsForBackwardMode(tensors: tf.Tensor[]): tf.Tensor[];
}

let depth = 0;
let original: TapeEngine['saveTensorsForBackwardMode'] | undefined;
let patchedEngine: TapeEngine | undefined;

function install(engine: TapeEngine): void {
  if (patchedEngine === engine) return;
  original = engine.saveTensorsForBackwardMode;
  const base = original;
  engine.saveTensorsForBackwardMode = function (this: TapeEngine, tensors: tf.Tensor[]) {
    if (depth === 0) return base.call(this, tensors);
    return tensors.map((t) => {
      const info = this.state.tensorInfo.get(t.dataId);
      if (!info) return base.call(this, [t])[0]!;
      info.backend.incRef(t.dataId);
      const y = this.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
      this.addTapeNode('Identity', { x: t }, [y], (dy) => ({ x: () => tf.clone(dy) }), [], {});
      return this.keep(y);
    });
  };
  patchedEngine = engine;
}

/** Runs `fn` with cheap saved tensors (nestable). */
export function withCheapSavedTensors<T>(fn: () => T): T {
  install(tf.engine() as unknown as TapeEngine);
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}
