import { ADAFAC_KERNEL_WASM } from './adafac-kernel-wasm.js';
import { lazyWasmKernel } from './wasm-kernel.js';

/*
 * The compiled (WebAssembly SIMD) per-element kernel of `AdafacMLPLOpt`'s fused step
 * (source: wasm/adafac-kernel.ts). The module imports its linear memory and holds no data
 * of its own, so it runs on either of two memories: its own (the fused step copies the
 * state and each tensor's gradient and parameters in, and reads the new state and
 * parameters back), or the tfjs wasm backend's, where it works on the tensors in place.
 * Where WebAssembly or its SIMD extension is missing the module does not validate and the
 * fused step keeps its JavaScript loops.
 */

/** The kernel's exports (pointers are byte offsets into `memory`). */
export interface AdafacKernel {
  /** The kernel's linear memory. */
  memory: WebAssembly.Memory;
  /** First free byte after the module's data. */
  heapBase(): number;
  /** Pass 0 over a rank-2 factored tensor: row and column sums of squared gradients. */
  factoredSums(...args: number[]): void;
  /** Pass 0 over a rank-2 factored tensor, four elements at a time. */
  factoredSumsX4(...args: number[]): void;
  /** Pass 1 over a rank-2 factored tensor: momenta, second moments, feature sums of squares. */
  factoredPass1(...args: number[]): void;
  /** Pass 1 over a rank-2 factored tensor, four elements at a time. */
  factoredPass1x4(...args: number[]): void;
  /** Pass 2 over a rank-2 factored tensor: features through the MLP into the new parameters. */
  factoredPass2(...args: number[]): void;
  /** Pass 2 over a rank-2 factored tensor, four elements at a time. */
  factoredPass2x4(...args: number[]): void;
  /** Pass 1 over an unfactored tensor: momenta, second moments, accumulators, feature sums of squares. */
  diagPass1(...args: number[]): void;
  /** Pass 1 over an unfactored tensor, four elements at a time. */
  diagPass1x4(...args: number[]): void;
  /** Pass 2 over an unfactored tensor: features through the MLP into the new parameters. */
  diagPass2(...args: number[]): void;
  /** Pass 2 over an unfactored tensor, four elements at a time. */
  diagPass2x4(...args: number[]): void;
}

const load = lazyWasmKernel<AdafacKernel>(ADAFAC_KERNEL_WASM, 'adafac kernel', { importsMemory: true });
let tensors = 0;
let inPlaceTensors = 0;
let enabled = true;

/**
 * The kernel on its own memory, or `undefined` where it is unavailable (no WebAssembly
 * SIMD) or switched off. Compiled synchronously on first use; where the runtime refuses a
 * synchronous compile (a browser's main thread), compiled in the background and used from
 * the step after it is ready.
 */
export function adafacKernel(): AdafacKernel | undefined {
  return enabled ? load() : undefined;
}

/**
 * The kernel on `memory` (the tfjs wasm backend's), or `undefined` where it is unavailable
 * or switched off, or not ready yet: instantiated synchronously on first use where the
 * runtime allows it, else in the background (the fused step then uses `adafacKernel`
 * meanwhile). A shared memory (the backend's threaded build) does not match the module's
 * import, and so never gets one.
 */
export function adafacKernelOn(memory: WebAssembly.Memory): AdafacKernel | undefined {
  return enabled ? load.on(memory) : undefined;
}

/**
 * Switches the compiled kernel on or off (on by default) and returns the previous setting.
 * Off, the fused step runs its JavaScript loops: for comparing the two, and as an escape
 * hatch.
 */
export function setAdafacKernelEnabled(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Counts one tensor updated by the compiled kernel (see `adafacKernelTensors`), `inPlace` in the backend's memory. */
export function countAdafacKernelTensor(inPlace = false): void {
  tensors++;
  if (inPlace) inPlaceTensors++;
}

/**
 * How many tensors the compiled kernel has updated so far in this process: where it ran;
 * with `inPlace`, only those it updated in the wasm backend's memory (no copies).
 */
export function adafacKernelTensors(inPlace = false): number {
  return inPlace ? inPlaceTensors : tensors;
}
