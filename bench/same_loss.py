#!/usr/bin/env python
"""Same loss after equal epochs? vae_nb's `Trainer` and the plain PyTorch loop of `peers.py` train the 784-200-200-50
tanh VAE from the same initial weights for the same epochs, once per seed (each seed sets vae_nb's data order and noise,
and the plain loop's global RNG); the valid -ELBO of every run (all 10,000 valid images, the same evaluation noise),
then the mean and standard deviation over seeds and the difference of the means in standard errors. Both objectives are
the same to float32 rounding (checked first: loss and gradients of one batch with the same noise), so a difference here
comes from data order, noise and the optimizer's implementation.

usage: OMP_NUM_THREADS=1 python bench/same_loss.py [--seeds 7] [--epochs 5]
"""
import argparse, statistics, sys, time, warnings
from pathlib import Path
import torch
from torch.utils.data import DataLoader, TensorDataset
sys.path.insert(0, str(Path(__file__).parent))
import peers
from vae_nb.vae import VAE
from vae_nb.train import Trainer, evaluate

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=7)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    x_train, x_valid = peers.load("train", True), peers.load("valid", True)   # row-major, as vae_nb's loader keeps it
    torch.manual_seed(0); init = peers.coders()
    def fresh(): return peers.same_start(init)
    def valid_loss(model):
        torch.manual_seed(1); return evaluate(model, x_valid, batch_size=1000)["loss"]
    enc, dec = fresh()                                     # the objectives: one batch, the same noise
    vnb, plain, xb = VAE([peers.with_layers(enc, True)], [peers.with_layers(dec, True)], reconstruction_loss="bce"), peers.Plain(*fresh()), x_train[:peers.BATCH]
    torch.manual_seed(5); loss_vnb = vnb.loss_terms(xb)["loss"]; loss_vnb.backward()
    torch.manual_seed(5); loss_plain = peers.plain_loss(plain, xb); loss_plain.backward()
    worst = max(((p.grad - q.grad).abs().max() / q.grad.abs().max()).item() for p, q in zip(vnb.parameters(), plain.parameters()))
    print(f"one batch, same noise: loss {loss_vnb.item():.4f} (vae_nb) and {loss_plain.item():.4f} (plain); largest gradient difference {worst:.1e} of the largest gradient")
    print(f"torch {torch.__version__}, {a.epochs} epochs of {len(x_train):,} images per run, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    res = {"vae_nb Trainer.fit": [], "plain loop": []}
    for seed in range(a.seeds):
        enc, dec = fresh()
        vnb = VAE([peers.with_layers(enc, True)], [peers.with_layers(dec, True)], reconstruction_loss="bce")
        Trainer(vnb, x_train, batch_size=peers.BATCH, lr=peers.LR, device="cpu", seed=seed, progress=False).fit(a.epochs)
        res["vae_nb Trainer.fit"].append(valid_loss(vnb))
        torch.manual_seed(seed); plain = peers.Plain(*fresh()); opt = torch.optim.Adam(plain.parameters(), lr=peers.LR)
        loader = DataLoader(TensorDataset(x_train), batch_size=peers.BATCH, shuffle=True)
        for _ in range(a.epochs): peers.plain_epoch(plain, opt, loader)
        res["plain loop"].append(valid_loss(VAE([plain.enc], [plain.dec], reconstruction_loss="bce")))
        print(f"seed {seed}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in res.items()), flush=True)
    print("\n| trainer | valid -ELBO (nats), mean ± sd over seeds | min / max |\n|---|---|---|")
    for k, v in res.items(): print(f"| {k} | {statistics.mean(v):.2f} ± {statistics.stdev(v):.2f} | {min(v):.2f} / {max(v):.2f} |")
    (a_, b_) = res.values()
    se = (statistics.variance(a_) / len(a_) + statistics.variance(b_) / len(b_)) ** 0.5
    print(f"\ndifference of the means {statistics.mean(a_) - statistics.mean(b_):+.2f} nats = {(statistics.mean(a_) - statistics.mean(b_)) / se:+.1f} standard errors")

if __name__ == "__main__":
    main()
