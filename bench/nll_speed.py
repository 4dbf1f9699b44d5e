#!/usr/bin/env python
"""Importance-weighted NLL: `vae_nb.metrics.evaluate_likelihood` (batched) against a per-image loop in the style of
pythae's `VAE.get_nll`, on the same model and the same images.

The model is the one-layer MLP VAE of the IWAE paper (784-200-200-50, tanh, Bernoulli logits) as a
`vae_nb.algorithm.VanillaVAE`, briefly trained on statically binarized MNIST (`../shared/data/binarized_mnist.npz`)
so that the NLL is meaningful. Both methods draw k samples per image; the loop runs, per image, k/100 forward passes
on 100 copies of the image (encoder included each time, as pythae does), under `torch.no_grad()` (pythae itself keeps
autograd on, which would only slow the loop further). Timings alternate the two methods and report the median.

usage: python bench/nll_speed.py [--n 50] [--k 1000] [--repeats 3] [--train-steps 300] [--threads 2]
"""
import argparse, time, statistics
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from vae_nb.algorithm import VanillaVAE
from vae_nb.metrics import evaluate_likelihood

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "binarized_mnist.npz"

def load(split):
    d = np.load(DATA)
    return torch.from_numpy(np.unpackbits(d[split], axis=1).astype("float32"))

def iwae_mlp_vae(d_in=784, hidden=200, d_latent=50):
    enc = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2 * d_latent))
    dec = nn.Sequential(nn.Linear(d_latent, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, d_in))
    return VanillaVAE(enc, dec, d_latent=d_latent, recon="bce", lr=1e-3)

@torch.no_grad()
def get_nll_loop(model, data, n_samples=1000, batch_size=100):
    "pythae's `get_nll`, transcribed to this model's `encode`/`decode`: one image at a time, k/batch_size passes each."
    n_full_batch = max(1, n_samples // batch_size)
    log_p = []
    for i in range(len(data)):
        x = data[i].unsqueeze(0)
        log_p_x = []
        for _ in range(n_full_batch):
            x_rep = torch.cat(batch_size * [x])
            mu, log_var = model.encode(x_rep)
            std = torch.exp(0.5 * log_var)
            z = mu + torch.randn_like(std) * std
            log_q_z_given_x = -0.5 * (log_var + (z - mu) ** 2 / torch.exp(log_var)).sum(dim=-1)
            log_p_z = -0.5 * (z ** 2).sum(dim=-1)
            recon_x = model.to_data(model.decode(z))              # probabilities, as pythae's decoders output
            log_p_x_given_z = -F.binary_cross_entropy(recon_x, x_rep, reduction="none").sum(dim=-1)
            log_p_x.append(log_p_x_given_z + log_p_z - log_q_z_given_x)   # log(2*pi) cancels
        log_p_x = torch.cat(log_p_x)
        log_p.append((torch.logsumexp(log_p_x, 0) - np.log(len(log_p_x))).item())
    return -float(np.mean(log_p))

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=50, help="validation images scored")
    p.add_argument("--k", type=int, default=1000, help="importance samples per image")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=300, help="Adam steps (batch 100) before timing")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x_train, x_valid = load("train"), load("valid")[:a.n]
    model = iwae_mlp_vae()
    for _ in range(a.train_steps): model.train_step(x_train[torch.randint(0, len(x_train), (100,))])
    model.eval()
    times = {"loop": [], "batched": []}
    nll = {}
    for r in range(a.repeats):
        t = time.perf_counter(); nll["loop"] = get_nll_loop(model, x_valid, a.k); times["loop"].append(time.perf_counter() - t)
        t = time.perf_counter(); nll["batched"] = evaluate_likelihood(model, x_valid, k=a.k)["nll"]; times["batched"].append(time.perf_counter() - t)
        print(f"repeat {r}: loop {times['loop'][-1]:.2f}s (NLL {nll['loop']:.2f}), batched {times['batched'][-1]:.2f}s (NLL {nll['batched']:.2f})", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{a.n} images x k={a.k}, {torch.get_num_threads()} threads, {a.train_steps} training steps")
    print(f"| method | median time (s) | ms / image | NLL (nats) |\n|---|---|---|---|")
    for k in ("loop", "batched"): print(f"| {k} | {med[k]:.2f} | {1000 * med[k] / a.n:.1f} | {nll[k]:.2f} |")
    print(f"speed-up: {med['loop'] / med['batched']:.1f}x")

if __name__ == "__main__":
    main()
