#!/usr/bin/env python
"""MIG of beta = 1 against beta = 8 on position-only sprites (x and y the only factors), three seeds: the easiest
world for a beta-VAE to align one latent unit with each factor. Quoted in nbs/tutorials/beta_vae.ipynb.

usage: python bench/mig_position.py LATENTS EPOCHS      e.g. python bench/mig_position.py 2 8   (about 5 minutes, 1 thread)

8,000 training images of 32x32, `MLPBetaVAE` (256 hidden units, Bernoulli decoder), `fit` for EPOCHS epochs of batch 64,
MIG of the posterior means of 3,000 held-out images against their x and y.
"""
import sys, time
import torch
from vae_nb.algorithm import MLPBetaVAE
from vae_nb.train import fit
from vae_nb.metrics import dsprites_like, encode_dataset, mutual_info_gap, posterior_collapse
torch.set_num_threads(1)
size, L = 32, int(sys.argv[1]) if len(sys.argv) > 1 else 4
kw = dict(n_shapes=1, n_orientations=1, n_scales=1)
x_train, _ = dsprites_like(n=8000, size=size, seed=0, **kw)
x_eval, f_eval = dsprites_like(n=3000, size=size, seed=1, **kw)
f_xy = f_eval[:, 3:5]
for seed in (0, 1, 2):
    for beta in (1., 8.):
        t = time.time(); torch.manual_seed(seed)
        m = MLPBetaVAE((1, size, size), latent_dim=L, beta=beta, hidden_dim=256, recon="bce", lr=1e-3)
        fit(m, x_train, epochs=int(sys.argv[2]) if len(sys.argv) > 2 else 8, batch_size=64, seed=seed, progress=False)
        mu, logvar = encode_dataset(m, x_eval)
        r = mutual_info_gap(mu, f_xy)
        print(f"L={L} seed {seed} beta {beta:g}: MIG {r['mig']:.3f} gaps {[round(g,3) for g in r['gaps'].tolist()]} active {posterior_collapse(mu, logvar).n_active} {time.time()-t:.0f}s", flush=True)
