#!/usr/bin/env python
"""Before / after of each speed change of issue 16, interleaved in one process (1 thread): the previous implementation
is kept here and swapped in for the "before" runs, so both sides run on the same machine state.

changes:
  bernoulli   `vae_nb.core._BernoulliLogProb.forward`: log(1 + exp(-|l|)) -> -log sigmoid(|l|) (one transcendental pass less)
  blocks      the same forward, now summing each row: one log per pixel -> one log per product of 16 values of
              sigmoid(|l|); x.l for one data row against many rows of logits as a matrix product
  ladder      `LadderVAE.log_importance_weights`: the bottom-up pass on all k copies of q(z_0|x) -> once per example
  layout      the gather of a batch of 100 rows from the 50,000 training images as the file stores them (column-major)
              -> from a row-major copy (what `InMemoryLoader` now keeps)
  layers      torch's `nn.Linear` and `nn.Tanh` -> vae_nb's `Linear` (oneDNN products where `linear_backend()` says so)
              and `Tanh` (from the sigmoid), in the same modules; the models below are built on vae_nb's layers since
              this change, so the earlier changes' logged figures were measured on torch's layers (`Sequential` runs
              module by module on both sides)
  stretch     vae_nb's `Sequential` running its modules one by one (as `nn.Sequential` does) -> each stretch of
              `Linear` layers and the activations after them as one autograd node, tanh as oneDNN's post-op; also
              measured on the same model with SiLU, vae_nb's default activation ("silu step")

measures: NLL, `evaluate_likelihood` (k = 1000, 40 valid images of binarized MNIST, the 784-200-200-50 tanh VAE of
bench/peers.py; the cost does not depend on the weights, so they are left untrained); step, one training step (batch
100, fused Adam, `vae_nb.step.optimizer_step`, value checks off as after the first epoch; row-major batches, as
`InMemoryLoader` gives them: the logs before the stretch change sliced the stored column-major images); ladder NLL, `iw_nll` (k =
1000, 20 valid images) of the four-level top-down model of bench/reproduce_nll.py (100, 50, 25, 12 units; untrained);
gather, `index_select` of 500 random batches of 100 rows (per batch); silu step, the training step of the same shape of
VAE built by `mlp_hierarchy(784, [50], 200, layers=2)` (SiLU, the library's default).

usage: OMP_NUM_THREADS=1 python bench/ab_changes.py [--rounds 7]
"""
import argparse, os, statistics, sys, time
from pathlib import Path
import torch
from torch import nn
sys.path.insert(0, str(Path(__file__).parent))
import peers
from vae_nb import core
from vae_nb.algorithm import VanillaVAE
from vae_nb.metrics import evaluate_likelihood
from vae_nb.step import optimizer_step
from vae_nb.vae import VAE, mlp_hierarchy
from vae_nb.ladder import LadderVAE
from vae_nb.layers import Linear, Sequential, Tanh, use_fast_layers, linear_backend

def bernoulli_before(ctx, logits, x):
    "The forward of `_BernoulliLogProb` before the change."
    ctx.save_for_backward(logits, x)
    softplus = logits.abs().neg_().exp_().add_(1).log_().add_(logits.clamp(min=0))
    return torch.addcmul(softplus.neg_(), x, logits).sum(-1)

def blocks_before(ctx, logits, x):
    "The forward of `_BernoulliLogProb` before the block products: one log per element."
    ctx.save_for_backward(logits, x)
    return logits.abs().sigmoid_().log_().sub_(logits.clamp(min=0)).addcmul_(x, logits).sum(-1)

class Layout:
    "Where the gather reads its rows: `data` is swapped between the stored (column-major) images and a row-major copy."
    data = None

CHANGES = {   # name: ([(owner, attribute, before, after (None: the current code)), ...], measures)
    "bernoulli": ([(core._BernoulliLogProb, "forward", staticmethod(bernoulli_before), staticmethod(blocks_before))], ("NLL", "step")),
    "blocks": ([(core._BernoulliLogProb, "forward", staticmethod(blocks_before), None)], ("NLL", "step")),
    "ladder": ([(LadderVAE, "log_importance_weights", VAE.log_importance_weights, None)], ("ladder NLL",)),
    "layout": ([(Layout, "data", "stored", "row-major")], ("gather",)),
    "layers": ([(Linear, "forward", nn.Linear.forward, None), (Tanh, "forward", nn.Tanh.forward, None),
                (Sequential, "forward", nn.Sequential.forward, nn.Sequential.forward)], ("NLL", "step", "ladder NLL")),
    "stretch": ([(Sequential, "forward", nn.Sequential.forward, None)], ("NLL", "step", "ladder NLL", "silu step"))}

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=100, help="training steps per timing")
    p.add_argument("--changes", nargs="+", default=list(CHANGES), choices=list(CHANGES))
    a = p.parse_args()
    torch.manual_seed(0); enc, dec = map(use_fast_layers, peers.coders())   # vae_nb's layers, as its `mlp` builds them
    algo = VanillaVAE(enc, dec, d_latent=peers.L, recon="bce").eval()
    model = VAE([enc], [dec], reconstruction_loss="bce")
    opt = torch.optim.Adam(model.parameters(), lr=peers.LR, fused=True)
    ladder = LadderVAE(**mlp_hierarchy(784, [100, 50, 25, 12], 200, layers=2, activation="tanh", top_down=True), reconstruction_loss="bce").eval()
    x_valid, x_train = peers.load("valid")[:40], peers.load("train")
    images = {"stored": x_train, "row-major": x_train.contiguous()}
    batches = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:50_000].view(500, 100)
    silu = VAE(**mlp_hierarchy(784, [peers.L], peers.H, layers=2), reconstruction_loss="bce")   # the default activation
    silu_opt = torch.optim.Adam(silu.parameters(), lr=peers.LR, fused=True)
    step_data = x_train[:peers.BATCH * a.steps].contiguous()
    def steps(model=model, opt=opt):
        with core.validation(False):
            for xb in step_data.split(peers.BATCH): optimizer_step(model, opt, xb)
    def gather():
        for b in batches: images[Layout.data].index_select(0, b)
    measures = {   # name: (timed call, unit, seconds -> unit)
        "NLL": (lambda: evaluate_likelihood(algo, x_valid, k=1000), "ms / image", 1e3 / len(x_valid)), "step": (steps, "ms / step", 1e3 / a.steps),
        "ladder NLL": (lambda: ladder.iw_nll(x_valid[:20], k=1000), "ms / image", 1e3 / 20), "gather": (gather, "µs / batch", 1e6 / len(batches)),
        "silu step": (lambda: steps(silu, silu_opt), "ms / step", 1e3 / a.steps)}
    for name in a.changes:
        swaps, what = CHANGES[name]
        current = [owner.__dict__[attr] for owner, attr, _, _ in swaps]
        times, loads = {}, []
        for r in range(a.rounds):
            loads.append(os.getloadavg()[0])
            for side in ("before", "after"):
                for (owner, attr, before, after), now in zip(swaps, current):
                    setattr(owner, attr, before if side == "before" else now if after is None else after)
                try:
                    for m in what:
                        t = time.perf_counter(); measures[m][0](); times.setdefault((m, side), []).append(time.perf_counter() - t)
                finally:
                    for (owner, attr, _, _), now in zip(swaps, current): setattr(owner, attr, now)
        print(f"\n{name}: {a.rounds} interleaved rounds, load {min(loads):.1f}-{max(loads):.1f}, torch {torch.__version__}, linear backend {linear_backend()}")
        print("| measure | before, min / median / max | after, min / median / max | speed-up (medians) |\n|---|---|---|---|")
        for m in what:
            _, unit, scale = measures[m]
            b, f = ([t * scale for t in times[(m, s)]] for s in ("before", "after"))
            print(f"| {m} ({unit}) | {min(b):.2f} / {statistics.median(b):.2f} / {max(b):.2f} | {min(f):.2f} / {statistics.median(f):.2f} / {max(f):.2f} | "
                  f"{statistics.median(b) / statistics.median(f):.2f}x |")

if __name__ == "__main__":
    main()
