import type { Optimizer, OptState } from '@lopt/optimizers';
import { type PRNGKey, random, tidy } from '@lopt/pytree';
import * as tf from '@tensorflow/tfjs-core';
import { checkOptimizer } from './check-optimizer.js';
import { registeredOptimizer } from './registry.js';
import { leafToTensor, leavesWithPaths, mapLeavesWithPaths, tensorsOf, tensorToLeaf } from './state-weights.js';

/** A tensor with a name: a gradient for the variable of that name, or a saved optimizer weight (tfjs-core's shape). */
export interface NamedTensor {
  /** The variable's or the weight's name. */
  name: string;
  /** Its value. */
  tensor: tf.Tensor;
}
type NamedTensorMap = tf.NamedTensorMap;

/** Options of `asTfOptimizer`. */
export interface AsTfOptimizerOptions {
  /**
   * The name the optimizer is saved under by `model.save(..., { includeOptimizer: true })`
   * and looked up with on load (see `registerOptimizer`); it also prefixes the names of
   * the saved state tensors. Default: the lopt optimizer's `name`.
   */
  name?: string;
  /** The total number of steps planned, passed to `init` (learned optimizers may condition on it). */
  numSteps?: number;
  /** A PRNG key: `init` gets it, and each update `random.foldIn(key, step)`. */
  key?: PRNGKey;
}

/** The state of the model's variables under one lopt optimizer. */
interface Tracked {
  names: string[];
  variables: tf.Variable[];
  shapes: number[][];
  /** The lopt state, with the model's variables themselves as its params. */
  state: OptState<tf.Tensor[]>;
  /** The state's tensors this optimizer made, kept and freed by it. */
  owned: Set<tf.Tensor>;
  /** The state's tensors it did not make (the variables, theta passed through): never freed here. */
  foreign: Set<tf.Tensor>;
}

/** The id the next tensor will get: tensors with smaller ids existed before. */
function nextTensorId(): number {
  const probe = tf.scalar(0);
  probe.dispose();
  return probe.id + 1;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);
const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * A lopt `Optimizer` as a TensorFlow.js `tf.Optimizer`, the class `model.compile` and
 * `model.fit` of `@tensorflow/tfjs-layers` drive (build one with `asTfOptimizer`).
 *
 * It keeps the lopt optimizer's state for the variables it is given — a fixed set, by
 * name, in the order of the first step — with the variables themselves as the state's
 * params, so `model.setWeights` between steps is seen by the next one. Each step runs the
 * lopt `update` (given the loss when it comes through `minimize`, as in `model.fit`),
 * writes the new params into the variables with `assign`, and frees the tensors the new
 * state replaces. The state is saved and restored through `getWeights` / `setWeights`,
 * so `model.save(..., { includeOptimizer: true })` and `tf.loadLayersModel` resume
 * training exactly; it is registered for serialization as `LoptOptimizer`.
 */
export class LoptOptimizer extends tf.Optimizer {
  /** The class name models are saved under. */
  static className = 'LoptOptimizer';

  /** The lopt optimizer that computes the updates. */
  readonly optimizer: Optimizer;
  /** The name the optimizer is saved under (see `AsTfOptimizerOptions.name`). */
  readonly saveName: string;
  private readonly numSteps: number | undefined;
  private readonly key: PRNGKey | undefined;
  private tracked: Tracked | null = null;
  /** State tensors restored by `setWeights` before the variables are known. */
  private pending: NamedTensor[] | null = null;
  /** Tensors `getWeights` made (not part of the state), freed on the next call. */
  private scratch: tf.Tensor[] = [];

  constructor(optimizer: Optimizer, opts: AsTfOptimizerOptions = {}) {
    super();
    checkOptimizer(optimizer, 'asTfOptimizer');
    const name = opts.name ?? optimizer.name;
    if (typeof name !== 'string' || name.length === 0 || name.includes('/')) {
      throw new Error(`asTfOptimizer: the name must be a non-empty string without '/', got ${JSON.stringify(name)}`);
    }
    if (opts.numSteps !== undefined && !(Number.isInteger(opts.numSteps) && opts.numSteps > 0)) {
      throw new Error(`asTfOptimizer: numSteps must be a positive integer, got ${opts.numSteps}`);
    }
    this.optimizer = optimizer;
    this.saveName = name;
    this.numSteps = opts.numSteps;
    this.key = opts.key;
  }

  /**
   * Runs `f`, computes the gradients of its value for `varList` (default: all trainable
   * variables) and applies them, giving the loss to the lopt optimizer (learned
   * optimizers may use it). This is what `model.fit` calls.
   */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    const { value, grads } = this.computeGradients(f, varList);
    try {
      const named: NamedTensor[] | NamedTensorMap =
        varList != null ? varList.map((v) => ({ name: v.name, tensor: grads[v.name]! })) : grads;
      this.step(named, value);
    } catch (e) {
      value.dispose();
      throw e;
    } finally {
      tf.dispose(grads);
    }
    if (returnCost) return value;
    value.dispose();
    return null;
  }

  /**
   * Applies gradients (a map from variable name to gradient, or a list of named
   * gradients). No loss is passed, so optimizers that need it (RNNMLPLOpt) must be
   * driven through `minimize`.
   */
  override applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    this.step(variableGradients, undefined);
  }

  private step(variableGradients: NamedTensorMap | NamedTensor[], loss: tf.Scalar | undefined): void {
    const named: NamedTensor[] = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name]! }));
    if (named.length === 0) throw new Error('LoptOptimizer.applyGradients: no gradients were given');
    const tracked = this.tracked ?? this.track(named.map((g) => g.name));
    const byName = new Map(named.map((g) => [g.name, g.tensor]));
    this.checkVariables(tracked, byName);

    const opt = this.optimizer;
    const grads: tf.Tensor[] = [];
    const made: tf.Tensor[] = [];
    tracked.names.forEach((name, i) => {
      const g = byName.get(name);
      const shape = tracked.shapes[i]!;
      if (g == null) {
        // A variable the loss does not reach this step: a zero gradient keeps the state whole.
        const z = tf.zeros(shape);
        made.push(z);
        grads.push(z);
      } else if (!sameShape(g.shape, shape)) {
        throw new Error(
          `LoptOptimizer.applyGradients: the gradient of '${name}' has shape ${shapeStr(g.shape)}, but the variable has shape ${shapeStr(shape)}`,
        );
      } else {
        grads.push(g);
      }
    });

    const old = tracked.state;
    const key = this.key ? random.foldIn(this.key, this.iterations) : undefined;
    const since = nextTensorId();
    let next: OptState<tf.Tensor[]>;
    try {
      next = tidy(() => opt.update(old, grads, { loss, ...(key ? { key } : {}) }));
      // A state that holds a gradient or the loss as it is would lose it when minimize frees them.
      const external = new Set<tf.Tensor>(loss ? [...grads, loss] : grads);
      if ([...tensorsOf(next)].some((t) => external.has(t))) {
        next = mapLeavesWithPaths(next, (_path, leaf) =>
          leaf instanceof tf.Tensor && external.has(leaf) ? tf.clone(leaf) : leaf,
        ) as OptState<tf.Tensor[]>;
      }
    } finally {
      tf.dispose(made);
    }
    const params = opt.getParams(next);
    if (!Array.isArray(params) || params.length !== tracked.variables.length) {
      throw new Error(`LoptOptimizer: ${opt.name}.update returned params that are not one tensor per variable`);
    }
    params.forEach((p, i) => {
      const v = tracked.variables[i]!;
      if (!(p instanceof tf.Tensor) || !sameShape(p.shape, v.shape)) {
        throw new Error(
          `LoptOptimizer: ${opt.name}.update returned params for '${v.name}' that are not a tensor of shape ${shapeStr(v.shape)}`,
        );
      }
      if (p === v) return;
      if (p.dtype === v.dtype) {
        v.assign(p);
      } else {
        const c = tf.cast(p, v.dtype);
        v.assign(c);
        c.dispose();
      }
    });
    const stored = opt.setParams(next, tracked.variables);
    this.replaceState(tracked, stored, [old, next], since);
    this.incrementIterations();
  }

  /** Starts tracking the variables named `names`: a fresh state, or the one `setWeights` restored. */
  private track(names: string[]): Tracked {
    const registered = tf.engine().registeredVariables;
    const variables = names.map((name) => {
      const v = registered[name];
      if (!v) throw new Error(`LoptOptimizer.applyGradients: there is no variable named '${name}' (was it disposed?)`);
      return v;
    });
    const opt = this.optimizer;
    const since = nextTensorId();
    const initial = tidy(() =>
      opt.init(
        variables.map((v) => v.clone()),
        { ...(this.numSteps !== undefined ? { numSteps: this.numSteps } : {}), ...(this.key ? { key: this.key } : {}) },
      ),
    );
    let state: OptState<tf.Tensor[]> = opt.setParams(initial, variables as tf.Tensor[]);
    const tracked: Tracked = {
      names,
      variables,
      shapes: variables.map((v) => [...v.shape]),
      state,
      owned: new Set(),
      foreign: new Set(variables),
    };
    this.replaceState(tracked, state, [initial], since);
    if (this.pending) {
      const restoredSince = nextTensorId();
      try {
        state = this.restore(tracked, this.pending);
      } catch (e) {
        // Nothing is tracked: free the fresh state, keep the restored tensors for another try.
        for (const t of tracked.owned) t.dispose();
        throw e;
      }
      this.replaceState(tracked, state, [tracked.state], restoredSince);
      tf.dispose(this.pending.map((w) => w.tensor));
      this.pending = null;
    }
    this.tracked = tracked;
    return tracked;
  }

  /**
   * Makes `state` the tracked state: keeps the tensors it holds that this optimizer made
   * (those it owned, or made since tensor id `since`), and frees those of `olds` that it
   * made and no longer holds. Tensors from outside (theta passed through, the variables)
   * are neither kept nor freed.
   */
  private replaceState(tracked: Tracked, state: OptState<tf.Tensor[]>, olds: unknown[], since: number): void {
    const ours = (t: tf.Tensor) => !tracked.foreign.has(t) && (tracked.owned.has(t) || t.id >= since);
    const owned = new Set<tf.Tensor>();
    for (const t of tensorsOf(state)) {
      if (ours(t)) {
        owned.add(tf.keep(t));
      } else {
        tracked.foreign.add(t);
      }
    }
    for (const o of olds) {
      for (const t of tensorsOf(o)) if (!owned.has(t) && ours(t) && !t.isDisposed) t.dispose();
    }
    tracked.owned = owned;
    tracked.state = state;
  }

  private checkVariables(tracked: Tracked, grads: Map<string, tf.Tensor>): void {
    const known = new Set(tracked.names);
    const extra = [...grads.keys()].filter((n) => !known.has(n));
    if (extra.length > 0) {
      throw new Error(
        `LoptOptimizer: got gradients for variables it does not track (${extra.join(', ')}); it keeps one state for the ` +
          `${tracked.names.length} variables of its first step. Use a new asTfOptimizer(...) for another model, or call reset() ` +
          'after changing which weights are trainable.',
      );
    }
    const registered = tf.engine().registeredVariables;
    tracked.names.forEach((name, i) => {
      const v = registered[name];
      if (!v)
        throw new Error(`LoptOptimizer: the variable '${name}' it tracks no longer exists (was its model disposed?)`);
      const shape = tracked.shapes[i]!;
      if (!sameShape(v.shape, shape)) {
        throw new Error(
          `LoptOptimizer: the variable '${name}' changed shape from ${shapeStr(shape)} to ${shapeStr(v.shape)} since the optimizer ` +
            'state was built. Its state no longer fits; call reset() (or use a new asTfOptimizer) to start a fresh state.',
        );
      }
      if (v !== tracked.variables[i]) {
        // Re-created with the same name and shape: the state carries over, as tf.train's optimizers key theirs by name.
        tracked.variables[i] = v;
        tracked.foreign.add(v);
        tracked.state = this.optimizer.setParams(tracked.state, tracked.variables);
      }
    });
  }

  /** The state's saved tensors, named `<saveName>/<path>` (the params are the model's own weights). */
  private namedState(): NamedTensor[] {
    if (!this.tracked) return this.pending ?? [];
    const vars = new Set<tf.Tensor>(this.tracked.variables);
    const out: NamedTensor[] = [];
    for (const { path, leaf } of leavesWithPaths(this.tracked.state)) {
      if (vars.has(leaf as tf.Tensor)) continue;
      const t = leafToTensor(leaf, 'LoptOptimizer.getWeights');
      if (t !== leaf) this.scratch.push(t);
      out.push({ name: `${this.saveName}/${path}`, tensor: t });
    }
    return out;
  }

  /** The state of a fresh `init` with the saved tensors put in. */
  private restore(tracked: Tracked, saved: NamedTensor[]): OptState<tf.Tensor[]> {
    const vars = new Set<tf.Tensor>(tracked.variables);
    const byName = new Map(saved.map((w) => [w.name, w.tensor]));
    const used = new Set<string>();
    const problems: string[] = [];
    const state = mapLeavesWithPaths(tracked.state, (path, leaf) => {
      if (vars.has(leaf as tf.Tensor)) return leaf;
      const name = `${this.saveName}/${path}`;
      const t = byName.get(name);
      if (!t) {
        problems.push(`missing ${name}`);
        return leaf;
      }
      used.add(name);
      const want = leaf instanceof tf.Tensor ? leaf.shape : null;
      if (want && !sameShape(want, t.shape)) {
        problems.push(`${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(want)}`);
        return leaf;
      }
      return tensorToLeaf(t, leaf);
    });
    for (const name of byName.keys()) if (!used.has(name)) problems.push(`unexpected ${name}`);
    if (problems.length > 0) {
      for (const t of tensorsOf(state)) if (!tensorsOf(tracked.state).has(t)) t.dispose();
      throw new Error(
        `LoptOptimizer.setWeights: the saved state does not fit ${this.optimizer.name} on these ${tracked.names.length} variables ` +
          `(${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}). ` +
          'Was it saved for another model?',
      );
    }
    return state as OptState<tf.Tensor[]>;
  }

  /**
   * The step count (named `iter`, as tf.train's optimizers save it) followed by the lopt
   * state's tensors, named `<saveName>/<path in the state>`. The tensors belong to the
   * optimizer: clone them to keep them past the next step.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    tf.dispose(this.scratch);
    this.scratch = [];
    const iter = await this.saveIterations();
    this.scratch.push(iter.tensor);
    return [iter, ...this.namedState()];
  }

  /**
   * Restores what `getWeights` gave (also called by `tf.loadLayersModel` for a model
   * saved with its optimizer). The tensors are copied. Weights saved by another
   * optimizer are refused with an error naming both.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    if (!Array.isArray(weightValues) || weightValues.length === 0) {
      throw new Error(
        'LoptOptimizer.setWeights: expected the list getWeights() returns (the step count first, then the state)',
      );
    }
    const [first, ...rest] = weightValues;
    if (first!.tensor.size !== 1) {
      throw new Error(
        `LoptOptimizer.setWeights: the first weight must be the step count, got '${first!.name}' of shape ${shapeStr(first!.tensor.shape)}`,
      );
    }
    const prefix = `${this.saveName}/`;
    const foreign = rest.filter((w) => !w.name.startsWith(prefix));
    if (foreign.length > 0) {
      const other = foreign[0]!.name;
      // lopt names its state `<name>/<path>`, the path starting with '.' or '['.
      const m = /^(.+?)\/[.[]/.exec(other);
      const by = m ? `the lopt optimizer '${m[1]}'` : 'another optimizer (not a lopt one)';
      throw new Error(
        `LoptOptimizer.setWeights: these optimizer weights were saved by ${by} (first: '${other}'), not by the lopt optimizer ` +
          `'${this.saveName}'. Restore them into the optimizer that saved them, or start this one fresh.`,
      );
    }
    const copies = rest.map((w) => ({ name: w.name, tensor: tf.keep(w.tensor.clone()) }));
    if (this.tracked) {
      const since = nextTensorId();
      let state: OptState<tf.Tensor[]>;
      try {
        state = this.restore(this.tracked, copies);
      } finally {
        tf.dispose(copies.map((w) => w.tensor));
      }
      this.replaceState(this.tracked, state, [this.tracked.state], since);
    } else {
      if (this.pending) tf.dispose(this.pending.map((w) => w.tensor));
      this.pending = copies;
    }
    this.iterations_ = (await first!.tensor.data())[0]!;
  }

  /** Drops the state: the next step starts from a fresh `init` (after changing which weights train, say). */
  reset(): void {
    this.disposeState();
  }

  /** Frees the optimizer's state (the model's variables are left alone). */
  override dispose(): void {
    this.disposeState();
    tf.dispose(this.scratch);
    this.scratch = [];
    super.dispose();
  }

  private disposeState(): void {
    if (this.tracked) {
      for (const t of this.tracked.owned) if (!t.isDisposed) t.dispose();
      this.tracked = null;
    }
    if (this.pending) {
      tf.dispose(this.pending.map((w) => w.tensor));
      this.pending = null;
    }
  }

  /** `{ name }`: the name the optimizer is saved under. */
  override getConfig(): tf.serialization.ConfigDict {
    // 'name' is the one string key tfjs-layers does not camel-case on load.
    return { name: this.saveName };
  }

  /** Builds the saved optimizer with the factory `registerOptimizer` gave for its name. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const name = config.name;
    if (typeof name !== 'string') throw new Error('LoptOptimizer.fromConfig: the saved config has no optimizer name');
    const factory = registeredOptimizer(name);
    if (!factory) {
      throw new Error(
        `LoptOptimizer: the model was saved with the lopt optimizer '${name}'. Before loading it, tell @lopt/layers how to build ` +
          `that optimizer: registerOptimizer('${name}', () => <the same lopt optimizer>).`,
      );
    }
    const Ctor = cls as unknown as new (o: Optimizer, opts: AsTfOptimizerOptions) => T;
    return new Ctor(factory(), { name });
  }
}

tf.serialization.registerClass(LoptOptimizer);

/**
 * Wraps a lopt optimizer — any from `@lopt/optimizers`, or `lopt.optFn(theta)` of a
 * learned optimizer — as a `tf.Optimizer` for `model.compile({ optimizer })`.
 *
 * ```ts
 * model.compile({ optimizer: asTfOptimizer(new Adam(1e-3)), loss: 'categoricalCrossentropy' });
 * await model.fit(xs, ys, { epochs: 5 });
 * ```
 */
export function asTfOptimizer(optimizer: Optimizer, opts: AsTfOptimizerOptions = {}): LoptOptimizer {
  return new LoptOptimizer(optimizer, opts);
}
