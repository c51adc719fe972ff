import * as tf from '@tensorflow/tfjs-core';
import { registerWasmSlicing } from './wasm-slicing.js';

/** Backends `setupBackend` can load by itself; others must already be registered. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgl' | 'webgpu' | (string & {});

// Module names in variables keep bundlers from resolving optional native packages.
const NATIVE_MODULES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];
const BACKEND_MODULES: Record<string, string[]> = {
  tensorflow: NATIVE_MODULES,
  wasm: ['@tensorflow/tfjs-backend-wasm'],
  cpu: ['@tensorflow/tfjs-backend-cpu'],
};

async function tryImport(modules: readonly string[]): Promise<string | undefined> {
  for (const m of modules) {
    try {
      await import(/* @vite-ignore */ m);
      return m;
    } catch {
      // Not installed (or its native binary is missing): try the next one.
    }
  }
  return undefined;
}

async function activate(name: string): Promise<boolean> {
  if (!tf.findBackendFactory(name)) {
    const mods = BACKEND_MODULES[name];
    if (mods) await tryImport(mods);
  }
  if (!tf.findBackendFactory(name)) return false;
  const ok = await tf.setBackend(name);
  if (ok) await tf.ready();
  if (ok && name === 'wasm') registerWasmSlicing();
  return ok;
}

/**
 * Selects and initialises a tfjs backend; resolves to its name. Without a name it picks
 * `'tensorflow'` when `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` is
 * installed, else `'wasm'`, else `'cpu'`. With a name it loads that backend or throws
 * an error saying why it is unavailable. `LOPT_BACKEND` in the environment, when set,
 * is used as the name.
 */
export async function setupBackend(name?: BackendName): Promise<string> {
  const env = typeof process !== 'undefined' ? process.env?.LOPT_BACKEND : undefined;
  const wanted = name ?? (env || undefined);
  if (wanted) {
    if (await activate(wanted)) return wanted;
    const known = Object.keys(BACKEND_MODULES);
    const hint =
      wanted === 'tensorflow'
        ? 'install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu'
        : known.includes(wanted)
          ? `its package (${BACKEND_MODULES[wanted]!.join(', ')}) could not be loaded`
          : `it is not registered; known backends: ${known.join(', ')} (webgl/webgpu once their package is imported)`;
    throw new Error(`setupBackend: backend '${wanted}' is unavailable: ${hint}`);
  }
  for (const candidate of ['tensorflow', 'wasm', 'cpu']) {
    if (await activate(candidate)) return candidate;
  }
  throw new Error('setupBackend: no tfjs backend could be loaded (tried tensorflow, wasm, cpu)');
}
