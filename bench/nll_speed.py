#!/usr/bin/env python
"""Importance-weighted NLL, interleaved: the library's one likelihood path against the previous call sizes, a naive
batched estimator and a per-image loop in the style of pythae's `VAE.get_nll`, on the same model and images.

The model is the one-layer MLP VAE of the IWAE paper (784-200-200-50, tanh, Bernoulli logits) as a
`vae_nb.algorithm.VanillaVAE`, briefly trained on statically binarized MNIST (`../shared/data/binarized_mnist.npz`).
The same encoder and decoder modules also form a depth-1 `vae_nb.vae.VAE`, whose `iw_nll` goes through the same path.

methods (each draws k samples per image, no gradients):
  path      `evaluate_likelihood(model, x, k)`: the library's defaults (encode 100 images once, ~2,048 decoder rows a call)
  previous  `evaluate_likelihood(model, x, k, chunk_size=500, batch_size=2)`: the call sizes of the previous release
  VAE       `VAE.iw_nll(x, k, batch_size=100)` on the same modules
  naive     a 30-line batched estimator: encode each image once, 100 images x 100 samples per decoder call, logsumexp
  loop      pythae's `get_nll` transcribed: one image at a time, k/100 passes of 100 copies, encoder included

Rounds alternate the methods (A B C D E, A B C ...); min / median / max per method, the machine's load average recorded.

usage: OMP_NUM_THREADS=1 python bench/nll_speed.py [--n 200] [--k 1000] [--rounds 5] [--train-steps 300] [--skip loop]
"""
import argparse, os, time, statistics
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from vae_nb.algorithm import VanillaVAE
from vae_nb.vae import VAE
from vae_nb.metrics import evaluate_likelihood
from vae_nb.step import optimizer_step

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "binarized_mnist.npz"

def load(split):
    d = np.load(DATA)
    return torch.from_numpy(np.unpackbits(d[split], axis=1).astype("float32"))

def iwae_mlp_vae(d_in=784, hidden=200, d_latent=50):
    enc = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2 * d_latent))
    dec = nn.Sequential(nn.Linear(d_latent, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, d_in))
    return VanillaVAE(enc, dec, d_latent=d_latent, recon="bce")

@torch.no_grad()
def naive_batched(model, data, k=1000, images=100, samples=100):
    "Encode each image once; decode `images` x `samples` latents per call; log-sum-exp over all k."
    out = []
    for x in data.split(images):
        mu, logvar = model.encoder(x).chunk(2, 1)
        std, log_w = torch.exp(0.5 * logvar), []
        for _ in range(k // samples):
            eps = torch.randn(len(x), samples, mu.shape[1])
            z = mu[:, None] + std[:, None] * eps
            logits = model.decoder(z.reshape(-1, mu.shape[1])).view(len(x), samples, -1)
            log_px_z = -F.binary_cross_entropy_with_logits(logits, x[:, None].expand_as(logits), reduction="none").sum(-1)
            log_w.append(log_px_z - 0.5 * (z ** 2).sum(-1) + 0.5 * (eps ** 2 + logvar[:, None]).sum(-1))   # log(2 pi) cancels
        out.append(torch.logsumexp(torch.cat(log_w, 1), 1) - np.log(k))
    return -torch.cat(out).mean().item()

@torch.no_grad()
def get_nll_loop(model, data, k=1000, batch_size=100):
    "pythae's `get_nll`, transcribed to this model's encoder/decoder: one image at a time, k/batch_size passes each."
    log_p = []
    for i in range(len(data)):
        x_rep = data[i].unsqueeze(0).repeat(batch_size, 1)
        log_p_x = []
        for _ in range(max(1, k // batch_size)):
            mu, log_var = model.encoder(x_rep).chunk(2, 1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
            log_q = -0.5 * (log_var + (z - mu) ** 2 / torch.exp(log_var)).sum(-1)
            recon = torch.sigmoid(model.decoder(z))
            log_p_x.append(-F.binary_cross_entropy(recon, x_rep, reduction="none").sum(-1) - 0.5 * (z ** 2).sum(-1) - log_q)
        log_p_x = torch.cat(log_p_x)
        log_p.append((torch.logsumexp(log_p_x, 0) - np.log(len(log_p_x))).item())
    return -float(np.mean(log_p))

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=200, help="validation images scored")
    p.add_argument("--k", type=int, default=1000, help="importance samples per image")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--train-steps", type=int, default=300, help="Adam steps (batch 100) before timing")
    p.add_argument("--skip", nargs="*", default=[], help="methods to leave out, e.g. loop")
    a = p.parse_args()
    torch.manual_seed(0)
    x_train, x_valid = load("train"), load("valid")[:a.n]
    model = iwae_mlp_vae()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-4)
    for _ in range(a.train_steps): optimizer_step(model, opt, x_train[torch.randint(0, len(x_train), (100,))])
    model.eval()
    lucid = VAE([model.encoder], [model.decoder], reconstruction_loss="bce").eval()
    methods = {"path": lambda: evaluate_likelihood(model, x_valid, k=a.k)["nll"],
               "previous": lambda: evaluate_likelihood(model, x_valid, k=a.k, chunk_size=500, batch_size=2)["nll"],
               "VAE": lambda: lucid.iw_nll(x_valid, k=a.k, batch_size=100).mean().item(),
               "naive": lambda: naive_batched(model, x_valid, a.k),
               "loop": lambda: get_nll_loop(model, x_valid, a.k)}
    methods = {m: f for m, f in methods.items() if m not in a.skip}
    times, nll, loads = {m: [] for m in methods}, {}, []
    for r in range(a.rounds):
        loads.append(os.getloadavg()[0])
        for m, f in methods.items():
            t = time.perf_counter(); nll[m] = f(); times[m].append(time.perf_counter() - t)
        print(f"round {r}: " + "  ".join(f"{m} {times[m][-1]:.2f}s ({nll[m]:.2f})" for m in methods), flush=True)
    print(f"\n{a.n} images x k={a.k}, {torch.get_num_threads()} thread(s), {a.rounds} interleaved rounds, "
          f"1-min load average {min(loads):.1f}-{max(loads):.1f}, torch {torch.__version__}")
    base = statistics.median(times["path"]) if "path" in times else None
    print("| method | ms / image, min / median / max | NLL (nats) | median time / path's |\n|---|---|---|---|")
    for m, ts in times.items():
        ms = [1000 * t / a.n for t in ts]
        ratio = f"{statistics.median(ts) / base:.2f}x" if base else "-"
        print(f"| {m} | {min(ms):.1f} / {statistics.median(ms):.1f} / {max(ms):.1f} | {nll[m]:.2f} | {ratio} |")

if __name__ == "__main__":
    main()
