#!/usr/bin/env python
"""The micro-measurements behind `vae_nb.layers` (nbs/00a_layers.ipynb), one thread, each pair of methods interleaved
(A B A B ...) over `--rounds` rounds, min / median / max per method:

  gemm        a 1000x200 by 200x784 product (the last decoder layer of a likelihood chunk): torch's path (MKL here) vs oneDNN
  elementwise tanh vs sigmoid on 200,000 float32 values (ns per value)
  tanh        torch.tanh vs vae_nb's tanh from the sigmoid, forward and forward + backward, at 1,024 / 16,384 / 200,000 values
  crossover   a batch of 100 through 50->200 (1M multiply-adds) and 200->100 (2M) layers, forward + backward: F.linear vs oneDNN
  functions   the classic autograd function vs the transform-ready one (setup_context, jvp), 100x200x200, forward + backward

usage: OMP_NUM_THREADS=1 python bench/layers_micro.py [--rounds 7] [--parts gemm elementwise tanh crossover functions]
"""
import argparse, os, statistics, time
import torch
import torch.nn.functional as F
from vae_nb.layers import _OneDNNLinear, _OneDNNLinearT, _Tanh, _onednn, onednn_available

def per_call(f, n):
    "Seconds per call of `f()` over `n` calls."
    t = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - t) / n

def compare(title, methods, rounds, n, unit=1e6, per=1, label="µs"):
    "Time `methods` (name -> call) interleaved over `rounds` rounds of `n` calls; print min / median / max in `label`."
    for f in methods.values():
        for _ in range(max(3, n // 10)): f()   # warm up
    times = {m: [] for m in methods}
    for _ in range(rounds):
        for m, f in methods.items(): times[m].append(per_call(f, n) * unit / per)
    print(f"\n{title} ({label}, min / median / max over {rounds} interleaved rounds, load {os.getloadavg()[0]:.1f})")
    for m, ts in times.items(): print(f"  {m:40s} {min(ts):9.2f} / {statistics.median(ts):9.2f} / {max(ts):9.2f}")
    return {m: statistics.median(ts) for m, ts in times.items()}

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--parts", nargs="+", default=["gemm", "elementwise", "tanh", "crossover", "functions"])
    a = p.parse_args()
    torch.set_num_threads(1)
    if not onednn_available(): raise SystemExit("this build of torch has no oneDNN linear (torch.ops.mkldnn._linear_pointwise)")
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, 1 thread")
    if "gemm" in a.parts:
        h, w, b = torch.randn(1000, 200), torch.randn(784, 200), torch.randn(784)
        med = compare("1000x200 @ 200x784 + bias", {"F.linear (torch's path)": lambda: F.linear(h, w, b), "oneDNN": lambda: _onednn(h, w, b)}, a.rounds, 20, 1e3, label="ms")
        print("  GFLOP/s at the medians: " + ", ".join(f"{m} {2 * 1000 * 200 * 784 / (t / 1e3) / 1e9:.0f}" for m, t in med.items()))
    if "elementwise" in a.parts:
        v = torch.randn(200_000)
        compare("200,000 values", {"torch.tanh": lambda: torch.tanh(v), "torch.sigmoid": lambda: torch.sigmoid(v)}, a.rounds, 50, 1e9, per=v.numel(), label="ns per value")
    if "tanh" in a.parts:
        for n in (1024, 16_384, 200_000):
            x = torch.randn(n, requires_grad=True); g = torch.randn(n)
            compare(f"tanh of {n:,} values", {"torch.tanh forward": lambda: torch.tanh(x.detach()), "sigmoid tanh forward": lambda: _Tanh.apply(x.detach()),
                                               "torch.tanh forward + backward": lambda: torch.tanh(x).backward(g),
                                               "sigmoid tanh forward + backward": lambda: _Tanh.apply(x).backward(g)}, a.rounds, 200)
    if "crossover" in a.parts:
        for n_in, n_out in ((50, 200), (200, 100)):
            x, w, b = (torch.randn(*s, requires_grad=True) for s in ((100, n_in), (n_out, n_in), (n_out,))); g = torch.randn(100, n_out)
            compare(f"batch 100 through {n_in}->{n_out} ({100 * n_in * n_out / 1e6:.0f}M multiply-adds), forward + backward",
                    {"F.linear": lambda: F.linear(x, w, b).backward(g), "oneDNN": lambda: _OneDNNLinear.apply(x, w, b).backward(g)}, a.rounds, 300)
    if "functions" in a.parts:
        x, w, b = (torch.randn(*s, requires_grad=True) for s in ((100, 200), (200, 200), (200,))); g = torch.randn(100, 200)
        compare("100x200x200 through oneDNN, forward + backward", {"classic autograd function": lambda: _OneDNNLinear.apply(x, w, b).backward(g),
                                                               "transform-ready (setup_context, jvp)": lambda: _OneDNNLinearT.apply(x, w, b).backward(g)}, a.rounds, 300)

if __name__ == "__main__":
    main()
