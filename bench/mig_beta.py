#!/usr/bin/env python
"""Mutual Information Gap of beta-VAEs (beta=1 vs beta=4) on the procedural dSprites-like data of `vae_nb.metrics`.

Trains a `vae_nb.algorithm.BetaVAE` (10 latents, Bernoulli decoder; the MLP of `MLPBetaVAE` or the conv coders of
`vae_nb.conv`) on random dSprites-like images and scores the posterior means of 5,000 held-out images with
`mutual_info_gap` against the known factors. One row per (beta, seed), then the mean and spread over seeds per beta.

usage: python bench/mig_beta.py [--steps 6000] [--seeds 0 1 2] [--betas 1 4] [--size 32] [--n 20000] [--hidden 256]
                                [--arch mlp | conv-32-32-64-64] [--shapes 3] [--orientations 40] [--scales 6] [--warmup 0]
"""
import argparse, time, statistics
import torch
from vae_nb.algorithm import MLPBetaVAE, BetaVAE
from vae_nb.conv import conv_coders
from vae_nb.config import LinearWarmup
from vae_nb.metrics import dsprites_like, mutual_info_gap, encode_dataset, posterior_collapse, DSPRITES_FACTORS

def build(arch:str, size:int, beta, hidden:int, lr:float):
    "`mlp` (MLPBetaVAE) or `conv-C1-C2-...` (BetaVAE around `conv_coders` with those channels), 10 latents."
    if arch == "mlp": return MLPBetaVAE((1, size, size), latent_dim=10, beta=beta, hidden_dim=hidden, recon="bce", lr=lr)
    channels = tuple(int(c) for c in arch.split("-")[1:])
    return BetaVAE(*conv_coders(1, 10, size, channels), d_latent=10, beta=beta, recon="bce", lr=lr)

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=6000, help="Adam steps")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--betas", type=float, nargs="+", default=[1., 4.])
    p.add_argument("--size", type=int, default=32, help="image side (dSprites: 64)")
    p.add_argument("--n", type=int, default=20000, help="training images")
    p.add_argument("--hidden", type=int, default=256, help="hidden units of the MLP")
    p.add_argument("--arch", default="mlp", help="'mlp' or 'conv-' and the conv channels, e.g. conv-32-32-64-64")
    p.add_argument("--shapes", type=int, default=3, help="1 to 3; fewer factor levels give an easier world")
    p.add_argument("--orientations", type=int, default=40)
    p.add_argument("--scales", type=int, default=6)
    p.add_argument("--warmup", type=int, default=0, help="if > 0: beta rises linearly from 0 over this many steps (LinearWarmup)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    kw = dict(n_shapes=a.shapes, n_orientations=a.orientations, n_scales=a.scales, size=a.size)
    x, _ = dsprites_like(n=a.n, seed=0, **kw)
    x_eval, f_eval = dsprites_like(n=5000, seed=1, **kw)
    names = [n for n, v in zip(DSPRITES_FACTORS, f_eval.T) if len(v.unique()) > 1]
    print(f"| beta | seed | MIG | gaps ({', '.join(names)}) | active units | KL (nats) | recon (nats) | time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    migs = {}
    for beta in a.betas:
        for seed in a.seeds:
            torch.manual_seed(seed)
            model = build(a.arch, a.size, LinearWarmup(a.warmup, beta) if a.warmup else beta, a.hidden, a.lr)
            g = torch.Generator().manual_seed(seed)
            t = time.perf_counter()
            for _ in range(a.steps): out = model.train_step(x[torch.randint(0, len(x), (a.batch_size,), generator=g)])
            mu, logvar = encode_dataset(model, x_eval)
            r, c = mutual_info_gap(mu, f_eval), posterior_collapse(mu, logvar)
            migs.setdefault(beta, []).append(r["mig"])
            print(f"| {beta:g} | {seed} | {r['mig']:.3f} | {', '.join(f'{v:.3f}' for v in r['gaps'].tolist())} | {c.n_active} | "
                  f"{c.kl.sum():.1f} | {out['recon']:.1f} | {time.perf_counter() - t:.0f} |", flush=True)
    for beta, v in migs.items():
        spread = f" ± {statistics.stdev(v):.3f} (std), range {min(v):.3f}-{max(v):.3f}" if len(v) > 1 else ""
        print(f"beta={beta:g}: MIG mean {statistics.mean(v):.3f}{spread} over {len(v)} seed(s)")

if __name__ == "__main__":
    main()
