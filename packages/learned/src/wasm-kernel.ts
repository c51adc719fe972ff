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

/**
 * A loader of the WebAssembly module in `base64`: each call returns its exports, or
 * `undefined` where it is unavailable (no WebAssembly, or no SIMD: the module does not
 * validate). Compiled synchronously on first use; where the runtime refuses a synchronous
 * compile (a browser's main thread), compiled in the background and returned from the
 * call after it is ready.
 */
export function lazyWasmKernel<T>(base64: string, what: string): () => T | undefined {
  let kernel: T | null | undefined;
  let pending = false;
  return () => {
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
    try {
      kernel = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as T;
    } catch {
      pending = true;
      WebAssembly.instantiate(bytes, {}).then(
        (r) => {
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
  };
}
