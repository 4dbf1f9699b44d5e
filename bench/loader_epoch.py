"""Time one epoch of `InMemoryLoader` batches: a gather per batch (the loader's way) against one gather of the whole
permuted epoch cut into contiguous slices (the alternative proposed in issue 16, measured slower and not adopted). MNIST-sized random data, interleaved A B A B, one thread; prints min/median/max.
With --train each batch also takes a training step of a 784-200-200-50 tanh MLP VAE (Adam), as in a real epoch.

    python bench/loader_epoch.py --reps 5 --n 50000 --batch-size 100
    python bench/loader_epoch.py --reps 5 --n 10000 --batch-size 100 --train
    python bench/loader_epoch.py --reps 5 --threads 2 --indexing   # a batch's gather, both ways, on 2 threads
"""
import argparse, statistics, time
import torch
from vae_nb.loaders import InMemoryLoader, _batch

class EpochGather(InMemoryLoader):
    "The alternative `__iter__`: gather the epoch's permutation once, then yield contiguous slices of it."
    def __iter__(self):
        idx, self.epoch = self.indices(self.epoch).to(self.tensors[0].device), self.epoch + 1
        epoch = [t.index_select(0, idx) for t in self.tensors]
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield _batch([t[start:start + self.batch_size] for t in epoch], self.transform)

def step_fn():
    "A training step of a 784-200-200-50 tanh MLP VAE with Bernoulli logits, Adam(1e-3)."
    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 200), torch.nn.Tanh(), torch.nn.Linear(200, 200), torch.nn.Tanh(), torch.nn.Linear(200, 100))
    dec = torch.nn.Sequential(torch.nn.Linear(50, 200), torch.nn.Tanh(), torch.nn.Linear(200, 200), torch.nn.Tanh(), torch.nn.Linear(200, 784))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 1e-3)
    def step(batch):
        x = batch[0].flatten(1)
        mu, logvar = enc(x).chunk(2, 1)
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(dec(z), x, reduction="sum") - 0.5 * (1 + logvar - mu**2 - logvar.exp()).sum()
        opt.zero_grad(); loss.backward(); opt.step()
    return step

def epoch_seconds(loader, step=None) -> float:
    t = time.perf_counter()
    for b in loader:
        if step is not None: step(b)
    return time.perf_counter() - t

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5); p.add_argument("--n", type=int, default=50000)
    p.add_argument("--batch-size", type=int, default=100); p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train", action="store_true", help="take a training step on every batch")
    p.add_argument("--indexing", action="store_true",
                   help="also time one batch's gather, x.index_select(0, idx) against x[idx], interleaved")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    x, y = torch.rand(a.n, 1, 28, 28), torch.randint(0, 10, (a.n,))
    loaders = {"gather per batch": InMemoryLoader((x, y), a.batch_size, seed=0), "epoch gather+slice": EpochGather((x, y), a.batch_size, seed=0)}
    assert all(torch.equal(u[0], v[0]) for u, v in zip(InMemoryLoader((x, y), a.batch_size, seed=1), EpochGather((x, y), a.batch_size, seed=1)))
    times, steps = {k: [] for k in loaders}, {k: step_fn() if a.train else None for k in loaders}
    for _ in range(a.reps):
        for k, dl in loaders.items(): times[k].append(epoch_seconds(dl, steps[k]))
    for k, ts in times.items():
        print(f"{k:>18}: ms/epoch min {min(ts) * 1e3:.1f}  median {statistics.median(ts) * 1e3:.1f}  max {max(ts) * 1e3:.1f}  ({a.n} x 784 floats, batch {a.batch_size}, {a.threads} thread{', training' if a.train else ''})")
    if a.indexing:
        idx, took = torch.randperm(a.n)[:a.batch_size], {"x.index_select(0, idx)": [], "x[idx]": []}
        ops = {"x.index_select(0, idx)": lambda: x.index_select(0, idx), "x[idx]": lambda: x[idx]}
        for _ in range(100 * a.reps):
            for k, op in ops.items(): t = time.perf_counter(); op(); took[k].append(time.perf_counter() - t)
        for k, ts in took.items():
            print(f"{k:>22}: µs per batch min {min(ts) * 1e6:.1f}  median {statistics.median(ts) * 1e6:.1f}  "
                  f"max {max(ts) * 1e6:.1f}  ({100 * a.reps} batches of {a.batch_size}, {a.threads} thread(s))")
    print(f"epoch gather+slice / gather per batch (median time): {statistics.median(times['epoch gather+slice']) / statistics.median(times['gather per batch']):.2f}x")
