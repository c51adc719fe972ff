/**
 * The seed meta-iteration written in jax-js: the same 64-32-10 ReLU MLP, initial
 * parameters and batch as lopt's, Adam with learnable hyperparameters unrolled 4 steps,
 * and the whole meta-step (`valueAndGrad` of the meta-loss, then Adam(1e-2) on theta)
 * compiled once by `jit` on jax-js's wasm device.
 *
 * jax-js counts references: every function consumes its array arguments, so an array
 * used twice is passed as `.ref` all but the last time.
 */
import { defaultDevice, init as initJax, jit, nn, numpy as np, valueAndGrad } from '@jax-js/jax';
import { INITIAL_THETA, type SeedArrays } from './seed-fixture.js';

type Theta = { logLr: np.Array; oneMinusBeta1: np.Array; oneMinusBeta2: np.Array; logEpsilon: np.Array };
type Params = { w0: np.Array; b0: np.Array; w1: np.Array; b1: np.Array };
type Data = { x: np.Array; y: np.Array };
type ThetaKey = keyof Theta;
const THETA_KEYS: ThetaKey[] = ['logEpsilon', 'logLr', 'oneMinusBeta1', 'oneMinusBeta2'];
const PARAM_KEYS: (keyof Params)[] = ['b0', 'b1', 'w0', 'w1'];
const UNROLL = 4;

/** A new reference to every array of a flat record. */
const refs = <T extends Record<string, np.Array>>(t: T): T =>
  Object.fromEntries(Object.entries(t).map(([k, a]) => [k, a.ref])) as T;

/** Mean softmax cross-entropy of the MLP; consumes `p` and `d`. */
function mlpLoss(p: Params, d: Data): np.Array {
  const h = nn.relu(np.matmul(d.x, p.w0).add(p.b0));
  const logits = np.matmul(h, p.w1).add(p.b1);
  return np.sum(nn.logSoftmax(logits, -1).mul(d.y), -1).mean().neg();
}

const mlpGrad = valueAndGrad(mlpLoss);

/** The meta-loss: 4 Adam steps at theta's hyperparameters, then the loss on the same batch. */
function metaLoss(theta: Theta, init: Params, d: Data): np.Array {
  const lr = np.exp(theta.logLr);
  const b1 = np.subtract(1, np.exp(theta.oneMinusBeta1));
  const b2 = np.subtract(1, np.exp(theta.oneMinusBeta2));
  const eps = np.exp(theta.logEpsilon);
  let params = init;
  let mu = Object.fromEntries(PARAM_KEYS.map((k) => [k, np.zerosLike(params[k].ref)])) as Params;
  let nu = Object.fromEntries(PARAM_KEYS.map((k) => [k, np.zerosLike(params[k].ref)])) as Params;
  let b1t: np.Array = np.onesLike(b1.ref);
  let b2t: np.Array = np.onesLike(b2.ref);
  for (let t = 0; t < UNROLL; t++) {
    const [l, g] = mlpGrad(refs(params), refs(d));
    l.dispose();
    b1t = b1t.mul(b1.ref);
    b2t = b2t.mul(b2.ref);
    const c1 = np.subtract(1, b1t.ref);
    const c2 = np.subtract(1, b2t.ref);
    const nextMu = {} as Params;
    const nextNu = {} as Params;
    const nextParams = {} as Params;
    for (const k of PARAM_KEYS) {
      const gk = g[k];
      nextMu[k] = b1.ref.mul(mu[k]).add(np.subtract(1, b1.ref).mul(gk.ref));
      nextNu[k] = b2.ref.mul(nu[k]).add(np.subtract(1, b2.ref).mul(np.square(gk)));
      const mHat = nextMu[k].ref.div(c1.ref);
      const vHat = nextNu[k].ref.div(c2.ref);
      const step = mHat.div(np.sqrt(vHat.add(1e-8)).add(eps.ref));
      nextParams[k] = params[k].sub(lr.ref.mul(step));
    }
    c1.dispose();
    c2.dispose();
    params = nextParams;
    mu = nextMu;
    nu = nextNu;
  }
  for (const a of [lr, b1, b2, eps, b1t, b2t]) a.dispose();
  for (const k of PARAM_KEYS) {
    mu[k].dispose();
    nu[k].dispose();
  }
  return mlpLoss(params, d);
}

/** One meta-step: meta-loss, meta-gradient, and Adam(1e-2) (optax's `adam`) on theta. */
function metaStep(theta: Theta, m: Theta, v: Theta, count: np.Array, init: Params, d: Data) {
  const [loss, g] = valueAndGrad(metaLoss)(refs(theta), init, d);
  const n = count.add(1);
  const bc1 = np.subtract(1, np.power(0.9, n.ref));
  const bc2 = np.subtract(1, np.power(0.999, n.ref));
  const next = { theta: {} as Theta, m: {} as Theta, v: {} as Theta, count: n, loss };
  for (const k of THETA_KEYS) {
    const mk = m[k].mul(0.9).add(g[k].ref.mul(0.1));
    const vk = v[k].mul(0.999).add(np.square(g[k]).mul(0.001));
    const upd = mk.ref.div(bc1.ref).div(np.sqrt(vk.ref.div(bc2.ref)).add(1e-8));
    next.theta[k] = theta[k].sub(upd.mul(1e-2));
    next.m[k] = mk;
    next.v[k] = vk;
  }
  bc1.dispose();
  bc2.dispose();
  return next;
}

/**
 * A jax-js seed meta-trainer over fixed initial params and one batch (the first `step()`
 * compiles); `step()` runs one meta-iteration and returns the meta-loss.
 */
export async function jaxjsSeed(data: SeedArrays) {
  await initJax('wasm');
  defaultDevice('wasm');
  const B = data.batchSize;
  const onehot = new Float32Array(B * 10);
  data.labels.forEach((c, i) => {
    onehot[i * 10 + c] = 1;
  });
  const init: Params = {
    w0: np.array(data.w0).reshape([64, 32]),
    b0: np.array(data.b0),
    w1: np.array(data.w1).reshape([32, 10]),
    b1: np.array(data.b1),
  };
  const batch: Data = { x: np.array(data.x).reshape([B, 64]), y: np.array(onehot).reshape([B, 10]) };
  const scalars = (f: (k: ThetaKey) => number) =>
    Object.fromEntries(THETA_KEYS.map((k) => [k, np.array([f(k)]).reshape([])])) as Theta;
  let theta = scalars((k) => INITIAL_THETA[k]);
  let m = scalars(() => 0);
  let v = scalars(() => 0);
  let count: np.Array = np.array([0]).reshape([]);
  const compiled = jit(metaStep);

  return {
    /** One meta-iteration; returns the meta-loss before the theta update. */
    step(): number {
      const out = compiled(theta, m, v, count, refs(init), refs(batch));
      theta = out.theta;
      m = out.m;
      v = out.v;
      count = out.count;
      return out.loss.dataSync()[0]!;
    },
    /** The current learning rate, `exp(logLr)`. */
    learningRate(): number {
      return Math.exp(theta.logLr.ref.dataSync()[0]!);
    },
    dispose() {
      for (const t of [theta, m, v, init, batch]) for (const a of Object.values(t)) a.dispose();
      count.dispose();
      compiled.dispose();
    },
  };
}
