#!/usr/bin/env python
"""The Bernoulli log-likelihood of 1,024 x 784 logits (about 0.8 million elements), forward and forward + backward:
PyTorch's `F.binary_cross_entropy_with_logits` against vae_nb's `bernoulli_log_likelihood` (00_core's hand-written term),
interleaved A B A B on one thread, value checks off; prints min / median / max in ms per million elements.

usage: OMP_NUM_THREADS=1 python bench/bernoulli_term.py [--rounds 7] [--reps 30]
"""
import argparse, statistics, time
import torch
import torch.nn.functional as F
from vae_nb.core import bernoulli_log_likelihood, validation

def timed(fn, reps):
    "Seconds per call of `fn`, over `reps` calls after one untimed call."
    fn(); t = time.perf_counter()
    for _ in range(reps): fn()
    return (time.perf_counter() - t) / reps

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7); p.add_argument("--reps", type=int, default=30)
    a = p.parse_args()
    torch.set_num_threads(1); torch.manual_seed(0)
    logits, x = torch.randn(1024, 784) * 3, torch.bernoulli(torch.full((1024, 784), 0.3))
    leaf = logits.clone().requires_grad_()
    def backward(loss): loss.backward(); leaf.grad = None
    ways = {"torch BCE forward": lambda: -F.binary_cross_entropy_with_logits(logits, x, reduction="sum"),
            "vae_nb forward": lambda: bernoulli_log_likelihood(logits, x, "sum"),
            "torch BCE forward+backward": lambda: backward(F.binary_cross_entropy_with_logits(leaf, x, reduction="sum")),
            "vae_nb forward+backward": lambda: backward(-bernoulli_log_likelihood(leaf, x, "sum"))}
    with torch.no_grad(): torch.testing.assert_close(ways["torch BCE forward"](), ways["vae_nb forward"](), rtol=1e-5, atol=1e-2)
    per_million, took = 1e6 / logits.numel(), {k: [] for k in ways}
    with validation(False):
        for _ in range(a.rounds):
            for k, fn in ways.items(): took[k].append(timed(fn, a.reps) * 1e3 * per_million)
    for k, ts in took.items():
        print(f"{k:>27}: ms per million elements min {min(ts):.2f}  median {statistics.median(ts):.2f}  max {max(ts):.2f}")

if __name__ == "__main__":
    main()
