/*
 * Loading of the compiled (WebAssembly SIMD) kernels the fused learned-optimizer steps
 * ship as base64 (`adafac-kernel.ts`, `mlp-lopt-kernel.ts`).
 */

function decode(base64: string, what: string): Uint8Array<ArrayBuffer> {
  if (typeof atob === 'function') {
    const s = atob(base64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  throw new Error(`${what}: no base64 decoder (atob) in this JavaScript runtime`);
}

/** A lazily compiled kernel: its exports on its own memory, and on other memories when it imports one. */
export interface WasmKernelLoader<T> {
  /**
   * The kernel's exports on its own memory, or `undefined` where it is unavailable (no
   * WebAssembly, or no SIMD: the module does not validate) or not compiled yet. Compiled
   * synchronously on first use; where the runtime refuses a synchronous compile (a
   * browser's main thread), compiled in the background and returned from the call after it
   * is ready.
   */
  (): T | undefined;
  /**
   * For a module that imports its memory (`env.memory`): its exports on `memory`, or
   * `undefined` while the module is unavailable, or while that instance is made in the
   * background (where synchronous instantiation is refused), or where `memory` does not
   * match the import (a shared memory, say).
   */
  on(memory: WebAssembly.Memory): T | undefined;
}

/**
 * A loader of the WebAssembly module in `base64`. With `importsMemory` the module imports
 * its memory: the loader gives it one of its own (one page, grown by the caller), and
 * `on(memory)` instantiates it on another.
 */
export function lazyWasmKernel<T>(
  base64: string,
  what: string,
  opts: { importsMemory?: boolean } = {},
): WasmKernelLoader<T> {
  const importsOf = (memory?: WebAssembly.Memory): WebAssembly.Imports =>
    opts.importsMemory && memory ? { env: { memory } } : {};
  let module: WebAssembly.Module | undefined;
  let kernel: T | null | undefined;
  let pending = false;
  // Instances on other memories; null while one is being made in the background, or where it failed.
  const onMemory = new WeakMap<WebAssembly.Memory, T | null>();
  const load = (() => {
    if (kernel !== undefined) return kernel ?? undefined;
    if (pending) return undefined;
    if (typeof WebAssembly === 'undefined') {
      kernel = null;
      return undefined;
    }
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = decode(base64, what);
    } catch {
      kernel = null;
      return undefined;
    }
    if (!WebAssembly.validate(bytes)) {
      kernel = null;
      return undefined;
    }
    const own = opts.importsMemory ? new WebAssembly.Memory({ initial: 1 }) : undefined;
    try {
      module = new WebAssembly.Module(bytes);
      kernel = new WebAssembly.Instance(module, importsOf(own)).exports as unknown as T;
    } catch {
      pending = true;
      WebAssembly.instantiate(bytes, importsOf(own)).then(
        (r) => {
          module = r.module;
          kernel = r.instance.exports as unknown as T;
          pending = false;
        },
        () => {
          kernel = null;
          pending = false;
        },
      );
      return undefined;
    }
    return kernel;
  }) as WasmKernelLoader<T>;
  load.on = (memory) => {
    if (!opts.importsMemory) throw new Error(`${what}: the module has its own memory and runs on no other`);
    if (!load() || !module) return undefined;
    const k = onMemory.get(memory);
    if (k !== undefined) return k ?? undefined;
    try {
      const inst = new WebAssembly.Instance(module, importsOf(memory)).exports as unknown as T;
      onMemory.set(memory, inst);
      return inst;
    } catch {
      onMemory.set(memory, null);
      WebAssembly.instantiate(module, importsOf(memory)).then(
        (i) => onMemory.set(memory, i.exports as unknown as T),
        () => undefined,
      );
      return undefined;
    }
  };
  return load;
}
