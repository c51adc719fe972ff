#!/usr/bin/env python3
"""Writes the reference fixtures of Celo2's update (fixtures/celo2/*.json).

Celo2 ("Celo2: Towards Learned Optimization Free Lunch", arXiv 2602.19142) as PyLO's
pure-PyTorch `Celo2_naive` (commit faf6fcb) defines it, computed here in float64 from its
published weights, so the fixtures hold the exact values the float32 implementation in
src/celo2.ts is compared with. Two problems, 50 steps each:

- `mlp`: a 4-layer MLP (weights and biases) trained by softmax cross-entropy on a fixed
  synthetic data set; its gradients are taken at the reference's own trajectory. The
  first and last weight matrices and the biases take the AdamW path, the middle two
  matrices (one tall, one wide) the learned path.
- `conv`: conv-kernel leaves (3x3xIxO as TensorFlow.js lays them out, and OxIx3x3 as
  PyTorch does) and a dense layer, with deterministic synthetic gradients; one bias is
  moved to the learned path (the per-leaf override), and the step uses weight decay and
  a non-zero `exp_mult`.

Gradients and initial parameters are rounded to float32 before use, so both sides see
identical inputs. The fixture stores them, the configuration, and the parameters after
steps 1, 2, 5, 10, 25 and 50 (base64 float32, little-endian, row-major).

Usage (Debian: apt-get install python3-torch):

    python3 scripts/celo2-fixtures.py [--weights celo2_weights.json] [--pylo DIR]

`--pylo DIR` also runs PyLO's own `Celo2_naive` (a checkout of commit faf6fcb, which is not
part of this repository) in float32 on the same inputs and prints how far it is from the
float64 values written here.
"""

import argparse
import base64
import hashlib
import json
import os
import sys

import numpy as np
import torch

WEIGHTS_SHA256 = "2dd612b1e309c4e46f133327a5fd7a13df735f6180ab40a4119ff8e5b5dc0bb0"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WEIGHTS = os.path.join(HERE, "..", "..", "..", "..", "shared", "pretrained", "celo2", "celo2_weights.json")
OUT_DIR = os.path.join(HERE, "..", "fixtures", "celo2")
STEPS = 50
CHECKPOINTS = [1, 2, 5, 10, 25, 50]
F64 = torch.float64

DEFAULTS = dict(
    lr=1e-3,
    weight_decay=0.0,
    momentum_decays=[0.9, 0.99, 0.999],
    rms_decays=[0.95],
    adafactor_decays=[0.9, 0.99, 0.999],
    exp_mult=0.0,
    rms_mult=1.0,
    ns_coeffs=[3.4445, -4.7750, 2.0315],
    ns_iters=5,
    adam_betas=[0.9, 0.95],
    adam_eps=1e-8,
)


def f32(x):
    """x rounded to float32, kept as float64."""
    return torch.as_tensor(x, dtype=torch.float32).to(F64)


def b64(t):
    a = np.ascontiguousarray(t.detach().to(torch.float32).numpy()).astype("<f4")
    return base64.b64encode(a.tobytes()).decode("ascii")


# ----------------------------------------------------------------------------- network


def load_network(path):
    raw = open(path, "rb").read()
    sha = hashlib.sha256(raw).hexdigest()
    if sha != WEIGHTS_SHA256:
        sys.exit(f"{path}: SHA-256 {sha}, expected {WEIGHTS_SHA256}")
    d = json.loads(raw)
    t = {k: torch.tensor(v["values"], dtype=F64).reshape(v["shape"]) for k, v in d.items()}
    # The 14 per-group first-layer matrices act on the concatenated features: stacking
    # them along their input axis gives one [8, 30] matrix.
    w1 = torch.cat([t[f"first_layer_weights.{i}"] for i in range(14)], dim=1)
    return dict(w1=w1, b1=t["first_layer_bias"], w2=t["hidden.weight"], b2=t["hidden.bias"],
                w3=t["output.weight"], b3=t["output.bias"])


def network(net, x):
    h = torch.relu(x @ net["w1"].T + net["b1"])
    h = torch.relu(h @ net["w2"].T + net["b2"])
    return h @ net["w3"].T + net["b3"]


# ----------------------------------------------------------------------------- Celo2 math


def factored_axes(shape):
    """(d1, d0): the second-largest and the largest axis (stable order on ties), or None."""
    if len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda i: (shape[i], i))
    return order[-2], order[-1]


def rms_normalize(x, axes):
    return x / torch.sqrt(1e-9 + (x * x).mean(dim=axes, keepdim=True))


def newton_schulz(x, coeffs, iters):
    a, b, c = coeffs
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = x.transpose(-2, -1)
    x = x / (torch.sqrt((x * x).sum(dim=(-2, -1), keepdim=True)) + 1e-8)
    for _ in range(iters):
        gram = x @ x.transpose(-2, -1)
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.transpose(-2, -1) if tall else x


def inv_sqrt_floor(x):
    return 1.0 / torch.sqrt(torch.clamp(x, min=1e-9))


class Reference:
    """Celo2's update over a list of leaves, in float64."""

    def __init__(self, net, cfg, shapes, adamw):
        self.net, self.cfg, self.adamw = net, cfg, adamw
        c = cfg
        self.md = torch.tensor(c["momentum_decays"], dtype=F64)
        self.rd = torch.tensor(c["rms_decays"], dtype=F64)
        self.fd = torch.tensor(c["adafactor_decays"], dtype=F64)
        self.state = []
        for shape, aw in zip(shapes, adamw):
            if aw:
                self.state.append(dict(t=0, m=torch.zeros(shape, dtype=F64), v=torch.zeros(shape, dtype=F64)))
                continue
            s = dict(mom=torch.zeros(shape + [len(self.md)], dtype=F64), rms=torch.zeros(shape + [len(self.rd)], dtype=F64))
            ax = factored_axes(shape)
            nf = len(self.fd)
            if ax:
                d1, d0 = ax
                s["row"] = torch.zeros([n for i, n in enumerate(shape) if i != d0] + [nf], dtype=F64)
                s["col"] = torch.zeros([n for i, n in enumerate(shape) if i != d1] + [nf], dtype=F64)
            else:
                s["v"] = torch.zeros(shape + [nf], dtype=F64)
            self.state.append(s)

    def step(self, params, grads):
        return [self.adamw_leaf(p, g, s) if aw else self.celo2_leaf(p, g, s)
                for p, g, s, aw in zip(params, grads, self.state, self.adamw)]

    def adamw_leaf(self, p, g, s):
        c = self.cfg
        b1, b2 = c["adam_betas"]
        s["t"] += 1
        t = s["t"]
        lr, wd = c["lr"], c["weight_decay"]
        p = p * (1 - lr * wd)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        mhat = s["m"] / (1 - b1 ** t)
        vhat = s["v"] / (1 - b2 ** t)
        return p - lr * mhat / (torch.sqrt(vhat) + c["adam_eps"])

    def celo2_leaf(self, p, g, s):
        c = self.cfg
        shape = list(p.shape)
        rank = len(shape)
        g = torch.clamp(g, -1000.0, 1000.0)
        ge = g.unsqueeze(-1)
        s["mom"] = self.md * s["mom"] + (1 - self.md) * ge
        s["rms"] = self.rd * s["rms"] + (1 - self.rd) * ge * ge
        g2 = ge * ge + 1e-30
        ax = factored_axes(shape)
        if ax:
            d1, d0 = ax
            s["row"] = self.fd * s["row"] + (1 - self.fd) * g2.mean(dim=d0)
            s["col"] = self.fd * s["col"] + (1 - self.fd) * g2.mean(dim=d1)
            d1r = d1 - 1 if d1 > d0 else d1
            rf = inv_sqrt_floor(s["row"] / (s["row"].mean(dim=d1r, keepdim=True) + 1e-9))
            cf = inv_sqrt_floor(s["col"])
            scale = rf.unsqueeze(d0) * cf.unsqueeze(d1)
            fac_g = ge * scale
            fac_m = s["mom"] * scale
            full = shape + [len(self.fd)]
            row = s["row"].unsqueeze(d0).expand(full)
            col = s["col"].unsqueeze(d1).expand(full)
        else:
            s["v"] = self.fd * s["v"] + (1 - self.fd) * g2
            fac_g = ge * inv_sqrt_floor(s["v"] + 1e-9)
            fac_m = s["mom"] / torch.sqrt(s["v"] + 1e-6)
            row = col = s["v"]
        inv_rms = 1.0 / torch.sqrt(s["rms"] + 1e-8)
        groups = [ge, torch.clamp(ge, -0.1, 0.1), p.unsqueeze(-1), s["mom"], s["rms"], s["mom"] * inv_rms, inv_rms,
                  fac_g, ge * inv_rms, row, col, 1.0 / torch.sqrt(row + 1e-8), 1.0 / torch.sqrt(col + 1e-8), fac_m]
        axes = list(range(rank))[-2:]
        x = torch.cat([rms_normalize(f, axes) for f in groups], dim=-1)
        out = network(self.net, x)
        direction = out[..., 0] * torch.exp(out[..., 1] * c["exp_mult"])
        if rank >= 2:
            direction = newton_schulz(direction, c["ns_coeffs"], c["ns_iters"])
        direction = rms_normalize(direction, axes) * c["rms_mult"]
        p = p - c["lr"] * direction
        return p - c["lr"] * c["weight_decay"] * p


def default_adamw(shapes, names):
    """The reference's rule: rank <= 1, 'embed' in the name, or the first / last rank >= 2 leaf."""
    big = [i for i, s in enumerate(shapes) if len(s) >= 2]
    return [len(s) <= 1 or "embed" in n.lower() or i in (big[0], big[-1]) for i, (s, n) in enumerate(zip(shapes, names))]


# ----------------------------------------------------------------------------- problems


def mlp_problem():
    gen = torch.Generator().manual_seed(1234)
    sizes = [6, 16, 12, 16, 4]
    names, params = [], []
    for i in range(4):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        names += [f"w{i}", f"b{i}"]
        params += [f32(torch.randn(fan_in, fan_out, generator=gen, dtype=F64) / fan_in ** 0.5),
                   f32(0.1 * torch.randn(fan_out, generator=gen, dtype=F64))]
    data_x = torch.randn(512, sizes[0], generator=gen, dtype=F64)
    data_y = (data_x @ torch.randn(sizes[0], sizes[-1], generator=gen, dtype=F64)).argmax(dim=1)
    batches = [torch.randint(0, 512, (32,), generator=gen) for _ in range(STEPS)]

    def grads(ps, step):
        ps = [p.clone().requires_grad_(True) for p in ps]
        idx = batches[step]
        h = data_x[idx]
        for i in range(4):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            if i < 3:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, data_y[idx])
        return [f32(g) for g in torch.autograd.grad(loss, ps)]

    return names, params, grads, {}


def conv_problem():
    gen = torch.Generator().manual_seed(4321)
    names = ["k0", "b0", "k1", "k2", "b2", "w3"]
    shapes = [[3, 3, 2, 4], [4], [3, 3, 4, 8], [8, 6, 3, 3], [6], [6, 5]]
    params = [f32(torch.randn(s, generator=gen, dtype=F64) * (0.3 if len(s) > 1 else 0.05)) for s in shapes]
    targets = [torch.randn(s, generator=gen, dtype=F64) * 0.2 for s in shapes]
    curv = [torch.rand(s, generator=gen, dtype=F64) + 0.1 for s in shapes]
    noise = [[torch.randn(s, generator=gen, dtype=F64) for s in shapes] for _ in range(STEPS)]

    def grads(ps, step):
        # A noisy separable quadratic, with one exactly-zero gradient row per kernel (a dead
        # unit) so the epsilons of the accumulators are exercised.
        out = []
        for p, t, c, n in zip(ps, targets, curv, noise[step]):
            g = c * (p - t) + 0.3 * n
            if g.dim() == 4:
                g[..., 0] = 0.0
            out.append(f32(g))
        return out

    cfg = dict(lr=3e-3, weight_decay=0.05, exp_mult=0.1)
    return names, params, grads, dict(cfg=cfg, celo2_leaves=["b0"])


# ----------------------------------------------------------------------------- main


def run(name, problem, net, pylo_dir):
    names, params, grads, extra = problem()
    cfg = dict(DEFAULTS, **extra.get("cfg", {}))
    shapes = [list(p.shape) for p in params]
    adamw = default_adamw(shapes, names)
    for n in extra.get("celo2_leaves", []):
        adamw[names.index(n)] = False
    ref = Reference(net, cfg, shapes, adamw)
    ps = [p.clone() for p in params]
    all_grads, checkpoints = [], {}
    for t in range(STEPS):
        gs = grads(ps, t)
        all_grads.append(gs)
        ps = ref.step(ps, gs)
        if t + 1 in CHECKPOINTS:
            checkpoints[t + 1] = [p.clone() for p in ps]
    doc = {
        "description": f"Celo2 reference update ({name}), float64, {STEPS} steps; see scripts/celo2-fixtures.py",
        "weightsSha256": WEIGHTS_SHA256,
        "config": {k: cfg[k] for k in DEFAULTS},
        "leaves": [{"name": n, "shape": s, "adamw": aw, "init": b64(p)} for n, s, aw, p in zip(names, shapes, adamw, params)],
        "grads": [[b64(g) for g in gs] for gs in all_grads],
        "checkpoints": [{"step": k, "params": [b64(p) for p in v]} for k, v in checkpoints.items()],
    }
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, f"{name}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print(f"wrote {os.path.normpath(path)}: {len(names)} leaves, adamw {adamw}")
    if pylo_dir:
        compare_with_pylo(pylo_dir, name, cfg, names, params, adamw, all_grads, checkpoints)


def compare_with_pylo(pylo_dir, name, cfg, names, params, adamw, all_grads, checkpoints):
    """Runs PyLO's Celo2_naive (float32) on the same inputs; prints the largest relative gap."""
    sys.path.insert(0, pylo_dir)
    from pylo.optim.Celo2_naive import Celo2_naive

    torch.set_num_threads(1)
    ps = [torch.nn.Parameter(p.to(torch.float32).clone()) for p in params]
    opt = Celo2_naive(ps, lr=cfg["lr"], weight_decay=cfg["weight_decay"], exp_mult=cfg["exp_mult"],
                      momentum_decays=tuple(cfg["momentum_decays"]), rms_decays=tuple(cfg["rms_decays"]),
                      adafactor_decays=tuple(cfg["adafactor_decays"]), rmsmult=cfg["rms_mult"],
                      ns_coeffs=tuple(cfg["ns_coeffs"]), ns_iters=cfg["ns_iters"],
                      adam_betas=tuple(cfg["adam_betas"]), adam_eps=cfg["adam_eps"])
    opt._param_is_adamw = {id(p): aw for p, aw in zip(ps, adamw)}
    worst = 0.0
    for t in range(STEPS):
        for p, g in zip(ps, all_grads[t]):
            p.grad = g.to(torch.float32).clone()
        opt.step()
        if t + 1 in checkpoints:
            for n, p, want in zip(names, ps, checkpoints[t + 1]):
                err = ((p.detach().to(F64) - want).abs().max() / want.abs().max()).item()
                worst = max(worst, err)
    print(f"  PyLO Celo2_naive (float32) vs these float64 values: max relative error {worst:.2e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS)
    ap.add_argument("--pylo", default=None, help="a checkout of PyLO at commit faf6fcb, to compare with")
    a = ap.parse_args()
    net = load_network(a.weights)
    run("mlp", mlp_problem, net, a.pylo)
    run("conv", conv_problem, net, a.pylo)


if __name__ == "__main__":
    main()
