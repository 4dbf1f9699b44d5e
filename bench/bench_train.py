#!/usr/bin/env python
"""Training throughput of `vae_nb.train` against the obvious hand-written PyTorch loop, on statically binarized MNIST.

Reference task (issue 6): a one-latent-layer MLP VAE, 784-200-200 tanh encoder to 50 Gaussian latents, mirrored decoder
with Bernoulli logits, Adam(lr=1e-3), batch 100. Both loops train the same architecture from the same initial weights;
epochs alternate between them (baseline, engine, baseline, engine, ...) so that changes in machine load hit both alike.
Reports samples/s of each, their ratio, the final validation loss (negative ELBO, nats) of each, and the engine's
throughput as a fraction of the machine's measured matmul rate.

usage: python bench/bench_train.py [--epochs 3] [--threads 2] [--compile] [--limit N] [--steps] [--data ../shared/data/binarized_mnist.npz]
(wall-clock and process CPU time are both reported: on a shared machine CPU time is the steadier measure)
"""
import argparse, math, os, subprocess, time
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from vae_nb.core import bce_loss, kl_divergence_gaussian, reparameterize
from vae_nb.train import Trainer, evaluate

SIZES = [784, 200, 200]   # encoder; the decoder mirrors it
LATENT, BATCH, LR = 50, 100, 1e-3

def mlp(sizes, out):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]): layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], out))

class RefVAE(nn.Module):
    "The reference model: `forward` for the hand-written loop, `loss_terms` (built from vae_nb.core) for the engine."
    def __init__(self):
        super().__init__()
        self.enc, self.dec = mlp(SIZES, 2 * LATENT), mlp([LATENT] + SIZES[::-1][:-1], SIZES[0])
    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        return self.dec(reparameterize(mu, logvar)), mu, logvar
    def loss_terms(self, x, condition=None):
        logits, mu, logvar = self(x)
        recon, kl = bce_loss(logits, x), kl_divergence_gaussian(mu, logvar)
        return {"loss": recon + kl, "recon": recon, "kl": kl}

def flops_per_sample():
    "Matmul FLOPs of one training step per example: forward, weight gradients, and input gradients (not for the first layer)."
    m = RefVAE()
    mats = [l.weight.numel() for l in m.modules() if isinstance(l, nn.Linear)]
    return 2 * sum(mats) * 3 - 2 * mats[0]

def gemm_rate(n=1024, reps=20):
    "Measured float32 matmul rate of this machine (FLOP/s), best of `reps` n x n products."
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best

def textbook_epoch(model, opt, loader):
    "The obvious loop: DataLoader batches, the textbook loss, zero_grad / backward / step, loss.item() for logging."
    model.train()
    total, n = 0., 0
    for (x,) in loader:
        logits, mu, logvar = model(x)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (bce + kld) / x.shape[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(x); n += len(x)
    return total / n

def step_times(x, reps=8, steps=20):
    "Per-step milliseconds (min and median over `reps` rounds of `steps` steps, cases alternating) on one batch."
    import vae_nb.core as core
    from vae_nb.step import optimizer_step
    model, xb = RefVAE(), x[:BATCH]
    opts = {"for-loop": torch.optim.Adam(model.parameters(), LR), "fused": torch.optim.Adam(model.parameters(), LR, fused=True)}
    def textbook(opt):
        logits, mu, logvar = model(xb)
        loss = (F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())) / BATCH
        opt.zero_grad(); loss.backward(); opt.step(); loss.item()
    def engine(opt, checks):
        previous = core.set_validation(checks)
        try: optimizer_step(model, opt, xb)
        finally: core.set_validation(previous)
    cases = {"textbook step, Adam for-loop (torch default on CPU)": lambda: textbook(opts["for-loop"]),
             "textbook step, fused Adam": lambda: textbook(opts["fused"]),
             "optimizer_step, fused Adam, value checks on": lambda: engine(opts["fused"], True),
             "optimizer_step, fused Adam, value checks off": lambda: engine(opts["fused"], False)}
    times = {k: [] for k in cases}
    for _ in range(reps):
        for k, f in cases.items():
            f(); t = time.perf_counter()
            for _ in range(steps): f()
            times[k].append((time.perf_counter() - t) / steps * 1e3)
    for k, v in times.items(): print(f"{k:48s} min {min(v):7.2f} ms   median {sorted(v)[len(v) // 2]:7.2f} ms")

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "binarized_mnist.npz"))
    p.add_argument("--epochs", type=int, default=3, help="epochs of each loop (alternating)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads for both loops")
    p.add_argument("--compile", action="store_true", help="engine with torch.compile")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training examples")
    p.add_argument("--steps", action="store_true", help="only time single steps of the textbook loop and of optimizer_step")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    d = np.load(a.data)
    x_train = torch.from_numpy(np.unpackbits(d["train"], axis=1).astype("float32"))[:a.limit]
    x_valid = torch.from_numpy(np.unpackbits(d["valid"], axis=1).astype("float32"))
    if a.steps:
        print(f"threads {a.threads}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        return step_times(x_train)

    torch.manual_seed(0); base = RefVAE()
    torch.manual_seed(0); eng = RefVAE()
    base_opt = torch.optim.Adam(base.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(x_train), batch_size=BATCH, shuffle=True)
    trainer = Trainer(eng, x_train, batch_size=BATCH, lr=LR, device="cpu", seed=0, progress=False, compile=a.compile)

    rows = []
    for epoch in range(1, a.epochs + 1):
        load = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time(); base_loss = textbook_epoch(base, base_opt, loader)
        t_base, c_base = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time(); trainer.fit(epoch)
        t_eng, c_eng = time.perf_counter() - t, time.process_time() - c
        eng_loss = trainer.history[-1]["loss"]
        n = len(x_train)
        rows.append((epoch, n / t_base, n / t_eng, t_base / t_eng, base_loss, eng_loss, load, c_base / c_eng))
        print(f"epoch {epoch}: baseline {n / t_base:7.0f} samples/s (train loss {base_loss:.2f})   engine {n / t_eng:7.0f} samples/s "
              f"(train loss {eng_loss:.2f})   ratio {t_base / t_eng:.2f} wall, {c_base / c_eng:.2f} CPU time   load avg {load:.1f}", flush=True)

    torch.manual_seed(1); v_base = evaluate(base, x_valid, batch_size=1000)["loss"]
    torch.manual_seed(1); v_eng = evaluate(eng, x_valid, batch_size=1000)["loss"]
    rate, fps = gemm_rate(), flops_per_sample()
    ratios, cpu_ratios = sorted(r[3] for r in rows), sorted(r[7] for r in rows)
    eng_sps = sorted(r[2] for r in rows)[len(rows) // 2]
    print(f"\nthreads {a.threads}, compile {a.compile}, {a.epochs} alternating epochs of {len(x_train)} examples, batch {BATCH}")
    print(f"median ratio engine/baseline: {ratios[len(ratios) // 2]:.2f}x wall-clock (min {ratios[0]:.2f}, max {ratios[-1]:.2f}), "
          f"{cpu_ratios[len(cpu_ratios) // 2]:.2f}x CPU time")
    print(f"final validation loss (-ELBO, nats): baseline {v_base:.2f}, engine {v_eng:.2f}")
    print(f"matmul FLOPs per sample {fps / 1e6:.3f} M; measured GEMM rate {rate / 1e9:.1f} GFLOP/s; "
          f"engine {eng_sps:.0f} samples/s = {fps * eng_sps / 1e9:.2f} GFLOP/s = {fps * eng_sps / rate:.1%} of the GEMM rate")
    print(f"load average (1 min) during the run: {min(r[6] for r in rows):.1f}-{max(r[6] for r in rows):.1f} on {os.cpu_count()} cores")

if __name__ == "__main__": main()
