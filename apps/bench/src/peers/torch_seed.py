"""The seed meta-iteration in PyTorch on the CPU with one thread: the peer lopt's seed is
measured against. Same 64-32-10 ReLU MLP, initial parameters and batch as lopt's (read
from the JSON file the benchmark writes), Adam with learnable hyperparameters unrolled 4
steps with create_graph=True inner gradients, the meta-loss, its gradient w.r.t. theta,
and torch.optim.Adam(lr=1e-2) on theta.

Usage:
  torch_seed.py DATA.json [--warmup 5] [--iters 50]
      runs warm-up + N meta-iterations, prints one JSON line
      {"ms": median ms per meta-iteration, "firstLoss": ..., "finalLoss": ...}
  torch_seed.py DATA.json --serve
      prints {"ready": true, "firstLoss": ...} after the first meta-iteration, then for
      each "block N" line on stdin runs N meta-iterations in a row and prints
      {"msPerIter": ..., "peakRssMb": ..., "loss": ...}; "quit" or end of input exits.
      This lets the benchmark alternate blocks of lopt and of PyTorch in the same run.
"""

import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass  # already set by the runtime; intra-op threads are what matter here

UNROLL = 4


def mlp_loss(params, x, onehot):
    w0, b0, w1, b1 = params
    h = torch.relu(x @ w0 + b0)
    logits = h @ w1 + b1
    return -(torch.log_softmax(logits, -1) * onehot).sum(-1).mean()


class Seed:
    def __init__(self, data):
        f32 = torch.float32
        self.init = [
            torch.tensor(data["w0"], dtype=f32).reshape(64, 32),
            torch.tensor(data["b0"], dtype=f32),
            torch.tensor(data["w1"], dtype=f32).reshape(32, 10),
            torch.tensor(data["b1"], dtype=f32),
        ]
        bsz = data["batchSize"]
        self.x = torch.tensor(data["x"], dtype=f32).reshape(bsz, 64)
        labels = torch.tensor(data["labels"], dtype=torch.long)
        self.onehot = torch.nn.functional.one_hot(labels, 10).to(f32)
        t = data["theta"]
        self.theta = [
            torch.tensor(t[k], dtype=f32, requires_grad=True)
            for k in ("logLr", "oneMinusBeta1", "oneMinusBeta2", "logEpsilon")
        ]
        self.opt = torch.optim.Adam(self.theta, lr=1e-2)

    def meta_loss(self):
        log_lr, omb1, omb2, log_eps = self.theta
        lr = torch.exp(log_lr)
        b1 = 1 - torch.exp(omb1)
        b2 = 1 - torch.exp(omb2)
        eps = torch.exp(log_eps)
        params = [p.clone().requires_grad_(True) for p in self.init]
        mu = [torch.zeros_like(p) for p in params]
        nu = [torch.zeros_like(p) for p in params]
        for t in range(1, UNROLL + 1):
            loss = mlp_loss(params, self.x, self.onehot)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            mu = [b1 * m + (1 - b1) * g for m, g in zip(mu, grads)]
            nu = [b2 * v + (1 - b2) * g * g for v, g in zip(nu, grads)]
            c1 = 1 - b1**t
            c2 = 1 - b2**t
            params = [
                p - lr * (m / c1) / (torch.sqrt(v / c2 + 1e-8) + eps)
                for p, m, v in zip(params, mu, nu)
            ]
        return mlp_loss(params, self.x, self.onehot)

    def step(self):
        self.opt.zero_grad()
        loss = self.meta_loss()
        loss.backward()
        self.opt.step()
        return loss.item()

    def timed_step(self):
        t0 = time.perf_counter()
        loss = self.step()
        return (time.perf_counter() - t0) * 1000.0, loss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--serve", action="store_true")
    args = ap.parse_args()
    with open(args.data) as f:
        seed = Seed(json.load(f))

    first_loss = seed.step()
    if not math.isfinite(first_loss):
        raise SystemExit(f"torch_seed: the first meta-loss is {first_loss}")
    if args.serve:
        print(json.dumps({"ready": True, "firstLoss": first_loss, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "quit":
                break
            parts = cmd.split()
            if len(parts) != 2 or parts[0] != "block" or not parts[1].isdigit() or int(parts[1]) < 1:
                raise SystemExit(f"torch_seed: unknown command {cmd!r} (expected 'block N' or 'quit')")
            n = int(parts[1])
            t0 = time.perf_counter()
            for _ in range(n):
                loss = seed.step()
            ms = (time.perf_counter() - t0) * 1000.0 / n
            # ru_maxrss is in KiB on Linux.
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            print(json.dumps({"msPerIter": ms, "peakRssMb": peak, "loss": loss}), flush=True)
        return

    for _ in range(args.warmup):
        seed.step()
    times = []
    loss = first_loss
    for _ in range(args.iters):
        ms, loss = seed.timed_step()
        times.append(ms)
    print(json.dumps({"ms": statistics.median(times), "firstLoss": first_loss, "finalLoss": loss, "iters": args.iters}))


if __name__ == "__main__":
    main()
