#!/usr/bin/env python
"""Does the beta-TCVAE objective prefer an aligned code? `kl_decomposition` on synthetic codes of known factors.

The factors of `nbs/tutorials/beta_vae.ipynb` (scale, x, y of 20,000 sprites) as a code with posterior sd 0.1: each
factor mapped to a unit with Gaussian (or uniform) marginals, as drawn, and with x and y rotated by 45 degrees. The
isotropic posterior stays diagonal under the rotation, so both codes are valid diagonal-Gaussian posteriors; the
aligned code's true total correlation is 0, the rotated one's is 0 only if the marginals are exactly Gaussian.
Prints the minibatch estimates of index-code MI, TC and dimension-wise KL (means over random batches of M), and
beta-TCVAE's regulariser.

usage: python bench/tc_alignment.py [--batch-sizes 64 1000] [--tc-beta 6]
"""
import argparse, math
import torch
from vae_nb.tcvae import kl_decomposition
from vae_nb.metrics import dsprites_like

def terms(mu:torch.Tensor, sd:float, batch_size:int, batches:int) -> dict:
    "Mean `kl_decomposition` of the code `mu` (posterior sd `sd`) over random batches."
    logvar, out = torch.full_like(mu, 2 * math.log(sd)), []
    for _ in range(batches):
        i = torch.randperm(len(mu))[:batch_size]
        out.append(kl_decomposition(mu[i] + sd * torch.randn_like(mu[i]), mu[i], logvar[i], len(mu)))
    return {k: torch.stack([o[k] for o in out]).mean().item() for k in out[0]}

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 1000])
    p.add_argument("--tc-beta", type=float, default=6.)
    p.add_argument("--sd", type=float, default=0.1, help="posterior standard deviation of every unit")
    a = p.parse_args()
    torch.set_num_threads(1); torch.manual_seed(0)
    _, f = dsprites_like(n=20000, seed=0, n_shapes=1, n_orientations=1, size=32, position_range=(0.35, 0.65))
    f = f[:, [i for i, v in enumerate(f.T) if len(v.unique()) > 1]].float()         # scale, x, y
    u = (f + 0.5) / torch.tensor([len(v.unique()) for v in f.T])                     # uniform levels in (0, 1)
    c = math.cos(math.pi / 4)
    rotate = torch.tensor([[1., 0, 0], [0, c, -c], [0, c, c]])                       # x and y by 45 degrees
    codes = {"Gaussian marginals": torch.distributions.Normal(0., 1.).icdf(u),
             "uniform marginals": (u - 0.5) * 12 ** 0.5}
    print("| marginals | code | M | MI | TC | dim-KL | MI + beta TC + dim-KL |\n|---|---|---|---|---|---|---|")
    for name, z in codes.items():
        for how, mu in (("aligned", z), ("x, y rotated 45 deg", z @ rotate.T)):
            for m in a.batch_sizes:
                t = terms(mu, a.sd, m, max(20, 12800 // m))
                print(f"| {name} | {how} | {m} | {t['mi']:.3f} | {t['tc']:.3f} | {t['dim_kl']:.3f} | "
                      f"{t['mi'] + a.tc_beta * t['tc'] + t['dim_kl']:.3f} |", flush=True)

if __name__ == "__main__":
    main()
