#!/usr/bin/env python
"""MIG of the VAE (beta = 1), beta-VAE and beta-TCVAE on dSprites-like sprites whose positions overlap, three seeds:
the comparison of nbs/tutorials/beta_vae.ipynb, with its recipe as flags.

Same MLP (two hidden ReLU layers) and Bernoulli decoder for the three models; Adam, batches drawn with a generator
seeded per run; MIG (`vae_nb.metrics.mutual_info_gap`) of 5,000 held-out images against the factors that vary, twice:
of the posterior means (as disentanglement_lib), and of one sample z ~ q(z | x) per image (the stochastic code, whose
information Chen et al. define the MIG with: a unit carries at most its KL in nats about any factor, while the binned
means of a collapsed unit can show far more). One row per (model, seed), then the mean and standard deviation per
model, and whether every seed ranks both beta models above the VAE. `--chen-mig` adds a third: Chen et al.'s own
estimator, I(z_j; v_k) = H(z_j) - H(z_j | v_k) from the entropies of the posteriors' mixtures (no binning).

usage: python bench/mig_tcvae.py [--steps 3000] [--batch-size 64] [--lr 1e-3] [--seeds 0 1 2] [--beta 4] [--tc-beta 6]
                                 [--alpha 1] [--gamma 1] [--estimator stratified] [--kl sampled] [--chen-mig]
                                 [--tc-warmup 0] [--models VAE beta-VAE beta-TCVAE] [--units] [--latent 8]
                                 [--scales 6] [--positions 32] [--position-range 0.35 0.65]
                                 [--y-range LO HI]
"""
import argparse, statistics, time
import torch
from torch import nn
from vae_nb.algorithm import BetaVAE
from vae_nb.core import kl_divergence_gaussian
from vae_nb.tcvae import BetaTCVAE
from vae_nb.metrics import (dsprites_like, encode_dataset, mutual_info_gap, posterior_collapse,
                            posterior_mutual_info_gap)

class AnalyticKLTCVAE(BetaTCVAE):
    "The analytic KL plus the excess weights on the estimated terms (as disentanglement_lib): same expectation."
    def regularisation_loss(self, params):
        t = self.kl_terms(params)
        return (kl_divergence_gaussian(*params) + (self.alpha - 1) * t["mi"] + (self.current_beta() - 1) * t["tc"]
                + (self.gamma - 1) * t["dim_kl"])

def coders(size:int, latent:int, hidden:int):
    "MLP encoder (two hidden ReLU layers) to (mu, logvar) and its mirror decoder to logits."
    d = size * size
    enc = nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                        nn.Linear(hidden, 2 * latent))
    dec = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                        nn.Linear(hidden, d), nn.Unflatten(1, (1, size, size)))
    return enc, dec

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--models", nargs="+", default=["VAE", "beta-VAE", "beta-TCVAE"], help="which models to train")
    p.add_argument("--beta", type=float, default=4., help="beta of the beta-VAE")
    p.add_argument("--tc-beta", type=float, default=6., help="weight of the total correlation in beta-TCVAE")
    p.add_argument("--alpha", type=float, default=1., help="beta-TCVAE's weight of the index-code mutual information")
    p.add_argument("--gamma", type=float, default=1., help="beta-TCVAE's weight of the dimension-wise KL")
    p.add_argument("--estimator", default="stratified", choices=["stratified", "weighted"],
                   help="beta-TCVAE's minibatch estimator of q(z): stratified (MSS) or minibatch-weighted (MWS)")
    p.add_argument("--kl", default="sampled", choices=["sampled", "analytic"],
                   help="beta-TCVAE's KL: the three estimated terms (sampled), or the analytic KL plus the excess "
                        "weights on them (analytic, disentanglement_lib's form)")
    p.add_argument("--chen-mig", action="store_true", help="also Chen et al.'s MIG estimator, from the posteriors")
    p.add_argument("--tc-warmup", type=int, default=0,
                   help="steps over which beta-TCVAE's TC weight rises linearly from 0 (the reference's --beta-anneal)")
    p.add_argument("--units", action="store_true",
                   help="print each unit's KL, the sd of its posterior means, its binned-mean MI with each factor")
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--shapes", type=int, default=1)
    p.add_argument("--scales", type=int, default=6)
    p.add_argument("--orientations", type=int, default=1)
    p.add_argument("--positions", type=int, default=32, help="levels of x and of y")
    p.add_argument("--position-range", type=float, nargs=2, default=[0.35, 0.65],
                   help="where the sprite centres lie, as fractions of the frame (x, and y unless --y-range)")
    p.add_argument("--y-range", type=float, nargs=2, default=None, help="y's own range (default: --position-range)")
    a = p.parse_args()
    torch.set_num_threads(1)
    kw = dict(n_shapes=a.shapes, n_scales=a.scales, n_orientations=a.orientations, n_x=a.positions, n_y=a.positions,
              size=a.size, position_range=(tuple(a.position_range), tuple(a.y_range or a.position_range)))
    x, _ = dsprites_like(n=a.n, seed=0, **kw)
    x_eval, f_eval = dsprites_like(n=5000, seed=1, **kw)
    tc_beta = (lambda step: a.tc_beta * min(1., step / a.tc_warmup)) if a.tc_warmup else a.tc_beta
    make = {"VAE": lambda: BetaVAE(*coders(a.size, a.latent, a.hidden), d_latent=a.latent, beta=1., lr=a.lr),
            "beta-VAE": lambda: BetaVAE(*coders(a.size, a.latent, a.hidden), d_latent=a.latent, beta=a.beta, lr=a.lr),
            "beta-TCVAE": lambda: (AnalyticKLTCVAE if a.kl == "analytic" else BetaTCVAE)(
                                            *coders(a.size, a.latent, a.hidden), d_latent=a.latent, dataset_size=a.n,
                                            beta=tc_beta, alpha=a.alpha, gamma=a.gamma, lr=a.lr,
                                            estimator=a.estimator)}
    make = {name: make[name] for name in a.models}
    print(vars(a), flush=True)
    print("| model | seed | MIG (means) | gaps | MIG (samples) | gaps | active units | KL (nats) | time (s) |"
          + (" MIG (Chen et al.) |" if a.chen_mig else "") + "\n|---|---|---|---|---|---|---|---|---|"
          + ("---|" if a.chen_mig else ""))
    migs, sampled, chen = {}, {}, {}
    for seed in a.seeds:
        for name, build in make.items():
            torch.manual_seed(seed)
            model, g, t = build(), torch.Generator().manual_seed(seed), time.perf_counter()
            for _ in range(a.steps): model.train_step(x[torch.randint(0, len(x), (a.batch_size,), generator=g)])
            mu, logvar = encode_dataset(model, x_eval)
            z = mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(0)) * (0.5 * logvar).exp()
            r, s, c = mutual_info_gap(mu, f_eval), mutual_info_gap(z, f_eval), posterior_collapse(mu, logvar)
            migs.setdefault(name, []).append(r["mig"])
            sampled.setdefault(name, []).append(s["mig"])
            if a.chen_mig: chen.setdefault(name, []).append(posterior_mutual_info_gap(mu, logvar, f_eval)["mig"])
            gaps = lambda r: ", ".join(f"{v:.3f}" for v in r["gaps"].tolist())
            print(f"| {name} | {seed} | {r['mig']:.3f} | {gaps(r)} | {s['mig']:.3f} | {gaps(s)} | "
                  f"{c.n_active} | {c.kl.sum():.1f} | {time.perf_counter() - t:.0f} |"
                  + (f" {chen[name][-1]:.3f} |" if a.chen_mig else ""), flush=True)
            if a.units:
                for j in range(a.latent):
                    print(f"|   unit {j}: KL {c.kl[j]:.3f}, sd of means {mu[:, j].std():.3f}, MI "
                          f"{', '.join(f'{v:.3f}' for v in r['mi'][j].tolist())} |", flush=True)
    for code, table in (("means", migs), ("samples", sampled), ("posteriors (Chen et al.)", chen)):
        for name, v in table.items():
            spread = statistics.stdev(v) if len(v) > 1 else 0.
            print(f"{name}: MIG of the {code} {statistics.mean(v):.3f} ± {spread:.3f} over {len(v)} seed(s)")
        if len(table) == 3:
            ordered = all(table[m][i] > table["VAE"][i] for m in ("beta-VAE", "beta-TCVAE")
                          for i in range(len(a.seeds)))
            print(f"MIG of the {code}: every seed ranks both beta models above the VAE: {ordered}")

if __name__ == "__main__":
    main()
