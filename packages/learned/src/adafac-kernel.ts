import { ADAFAC_KERNEL_WASM } from './adafac-kernel-wasm.js';
import { lazyWasmKernel } from './wasm-kernel.js';

/*
 * The compiled (WebAssembly SIMD) per-element kernel of `AdafacMLPLOpt`'s fused step
 * (source: wasm/adafac-kernel.ts). It has its own linear memory: the fused step copies
 * the state and each tensor's gradient and parameters in, and reads the new state and
 * parameters back. Where WebAssembly or its SIMD extension is missing the module does not
 * validate and the fused step keeps its JavaScript loops.
 */

/** The kernel's exports (pointers are byte offsets into `memory`). */
export interface AdafacKernel {
  /** The kernel's linear memory. */
  memory: WebAssembly.Memory;
  /** First free byte after the module's data. */
  heapBase(): number;
  /** Pass 0 over a rank-2 factored tensor: row and column sums of squared gradients. */
  factoredSums(...args: number[]): void;
  /** Pass 1 over a rank-2 factored tensor: momenta, second moments, feature sums of squares. */
  factoredPass1(...args: number[]): void;
  /** Pass 2 over a rank-2 factored tensor: features through the MLP into the new parameters. */
  factoredPass2(...args: number[]): void;
  /** Pass 2 over a rank-2 factored tensor, four elements at a time. */
  factoredPass2x4(...args: number[]): void;
  /** Pass 1 over an unfactored tensor: momenta, second moments, accumulators, feature sums of squares. */
  diagPass1(...args: number[]): void;
  /** Pass 2 over an unfactored tensor: features through the MLP into the new parameters. */
  diagPass2(...args: number[]): void;
}

const load = lazyWasmKernel<AdafacKernel>(ADAFAC_KERNEL_WASM, 'adafac kernel');
let tensors = 0;
let enabled = true;

/**
 * The kernel, or `undefined` where it is unavailable (no WebAssembly SIMD) or switched off.
 * Compiled synchronously on first use; where the runtime refuses a synchronous compile (a
 * browser's main thread), compiled in the background and used from the step after it is
 * ready.
 */
export function adafacKernel(): AdafacKernel | undefined {
  return enabled ? load() : undefined;
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

/** Counts one tensor updated by the compiled kernel (see `adafacKernelTensors`). */
export function countAdafacKernelTensor(): void {
  tensors++;
}

/** How many tensors the compiled kernel has updated so far in this process: where it ran. */
export function adafacKernelTensors(): number {
  return tensors;
}
