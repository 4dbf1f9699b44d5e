#!/usr/bin/env python
"""vae_nb against its peers, interleaved on one thread: training throughput (vae_nb's `Trainer`, a plain DataLoader
loop, pythae's trainer; plus the GEMM-only floor of one step) and importance-weighted NLL (vae_nb's
`evaluate_likelihood` and `VAE.iw_nll`, pythae's `get_nll`, a naive batched estimator).

Model: the one-layer MLP VAE of the IWAE paper (784-200-200-50, tanh, Bernoulli decoder), the same initial weights in
every trainer. The headline rows run every library on PyTorch's own `nn.Linear`, `nn.Tanh` and `nn.Sequential` (what
vae_nb's builders such as `mlp` return, the default a user gets); the rows "opt-in layers" run vae_nb's code on
`vae_nb.layers` (`use_fast_layers`: `Linear`, `Tanh` and `Sequential`, oneDNN products where `linear_backend()` says so,
each stretch of layers as one autograd node), beside the headline rows, to separate the code from the kernels; they are
left out, with a note, where this torch lacks the oneDNN operator. Data: statically binarized MNIST
(`../shared/data/binarized_mnist.npz`, 50,000 train images, the first `--n` valid images for the NLL). Runs in bench/.venv (pythae installed there only; see bench/README.md).

Training: each round trains every trainer for one full epoch (batch 100, Adam lr 1e-3), in turn (A B C A B C ...);
then the trained models' validation -ELBO (same seed, same 10,000 images). GEMM-only floor: the step's matrix products
alone through `torch.mm` (the floor of every trainer on stock layers) and through oneDNN (the floor of the opt-in rows).
NLL: the model vae_nb trained on stock layers is scored by every method in turn (the opt-in rows on a copy of it on
vae_nb's layers), k importance samples per image, no gradients (pythae's `get_nll` under `torch.no_grad()` too).

usage: OMP_NUM_THREADS=1 bench/.venv/bin/python bench/peers.py [--rounds 5] [--parts import train nll] [--n 200] [--k 1000]
"""
import argparse, copy, os, statistics, tempfile, time, warnings
from pathlib import Path
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.set_num_threads(1)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "binarized_mnist.npz"
D, H, L, BATCH, LR = 784, 200, 50, 100, 1e-3

def load(split, contiguous=False):
    "The split's images as stored in the file (column-major), or a row-major copy."
    x = torch.from_numpy(np.unpackbits(np.load(DATA)[split], axis=1).astype("float32"))
    return x.contiguous() if contiguous else x

def coders():
    "784-200-200-(2x50) tanh encoder, 50-200-200-784 tanh decoder emitting logits."
    enc = nn.Sequential(nn.Linear(D, H), nn.Tanh(), nn.Linear(H, H), nn.Tanh(), nn.Linear(H, 2 * L))
    dec = nn.Sequential(nn.Linear(L, H), nn.Tanh(), nn.Linear(H, H), nn.Tanh(), nn.Linear(H, D))
    return enc, dec

def with_layers(module, fast):
    "A copy of `module` (same weights) on vae_nb's opt-in layers (`use_fast_layers`) or on torch's (`use_torch_layers`)."
    from vae_nb.layers import use_fast_layers, use_torch_layers
    return (use_fast_layers if fast else use_torch_layers)(copy.deepcopy(module))

def same_start(init):
    "A fresh encoder and decoder with the weights of `init`, the (encoder, decoder) every trainer starts from."
    enc, dec = coders(); enc.load_state_dict(init[0].state_dict()); dec.load_state_dict(init[1].state_dict())
    return enc, dec

# ---- the peers -----------------------------------------------------------------------------------------------------
class Plain(nn.Module):
    "The plain PyTorch VAE of a hand-written loop."
    def __init__(self, enc, dec): super().__init__(); self.enc, self.dec = enc, dec
    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, 1)
        return self.dec(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)), mu, logvar

def plain_loss(model, x):
    "The textbook loss of a batch: BCE + KLD, summed, per example."
    logits, mu, logvar = model(x)
    return (F.binary_cross_entropy_with_logits(logits, x, reduction="sum") - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())) / len(x)

def plain_epoch(model, opt, loader):
    "The obvious loop: DataLoader batches, `plain_loss`, zero_grad / backward / step, loss.item() per step."
    model.train()
    for (x,) in loader:
        loss = plain_loss(model, x)
        opt.zero_grad(); loss.backward(); opt.step(); loss.item()

def pythae_model(enc, dec):
    "pythae's VAE around the same modules (its Bernoulli decoder ends in a sigmoid, as pythae's own MLPs do)."
    from pythae.models import VAE as PVAE, VAEConfig
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.models.base.base_utils import ModelOutput
    class Enc(BaseEncoder):
        def __init__(self): super().__init__(); self.net = enc
        def forward(self, x):
            mu, logvar = self.net(x).chunk(2, 1)
            return ModelOutput(embedding=mu, log_covariance=logvar)
    class Dec(BaseDecoder):
        def __init__(self): super().__init__(); self.net = dec
        def forward(self, z): return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))
    return PVAE(VAEConfig(input_dim=(D,), latent_dim=L, reconstruction_loss="bce"), encoder=Enc(), decoder=Dec())

def pythae_trainer(model, x, out_dir):
    "pythae's `BaseTrainer` (Adam lr 1e-3, batch 100) without its progress bar, prepared; `train_step(epoch)` is its epoch loop."
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.data.datasets import BaseDataset
    cfg = BaseTrainerConfig(output_dir=out_dir, per_device_train_batch_size=BATCH, learning_rate=LR, num_epochs=100, no_cuda=True)
    trainer = BaseTrainer(model, BaseDataset(x, torch.zeros(len(x))), training_config=cfg)
    trainer.prepare_training()
    from pythae.trainers.training_callbacks import ProgressBarCallback   # always added; vae_nb's trainer runs without one too
    trainer.callback_handler.callbacks = [c for c in trainer.callback_handler.callbacks if not isinstance(c, ProgressBarCallback)]
    return trainer

@torch.no_grad()
def naive_nll(enc, dec, data, k=1000, images=100, samples=100):
    "The 30-line batched estimator: encode each image once; decode `images` x `samples` latents per call; logsumexp."
    out = []
    for x in data.split(images):
        mu, logvar = enc(x).chunk(2, 1)
        std, log_w = torch.exp(0.5 * logvar), []
        for start in range(0, k, samples):
            eps = torch.randn(len(x), min(samples, k - start), L)
            z = mu[:, None] + std[:, None] * eps
            logits = dec(z.reshape(-1, L)).view(len(x), eps.shape[1], -1)
            log_px_z = -F.binary_cross_entropy_with_logits(logits, x[:, None].expand_as(logits), reduction="none").sum(-1)
            log_w.append(log_px_z - 0.5 * (z ** 2).sum(-1) + 0.5 * (eps ** 2 + logvar[:, None]).sum(-1))   # log(2 pi) cancels
        out.append(torch.logsumexp(torch.cat(log_w, 1), 1) - np.log(k))
    return -torch.cat(out).mean().item()

# ---- the GEMM-only floor of one training step ------------------------------------------------------------------------
def gemm_floor(batch=BATCH, reps=200, backend="torch"):
    """Seconds per step for the step's matrix products alone (forward, weight and bias-free input gradients), preallocated;
    `backend` "torch": `torch.mm` (MKL here), "onednn": the oneDNN product the opt-in `vae_nb.layers.Linear` uses (allocating its output)."""
    sizes = [(D, H), (H, H), (H, 2 * L), (L, H), (H, H), (H, D)]   # (in, out) per Linear, encoder then decoder
    prods = []
    for i, (n_in, n_out) in enumerate(sizes):
        W, a, g = torch.randn(n_out, n_in), torch.randn(batch, n_in), torch.randn(batch, n_out)
        prods.append((a, W.t(), torch.empty(batch, n_out)))             # forward: a @ W^T
        prods.append((g.t(), a, torch.empty(n_out, n_in)))              # weight gradient: g^T @ a
        if i != 0: prods.append((g, W, torch.empty(batch, n_in)))       # input gradient: g @ W (not for the data)
    def step():
        if backend == "torch":
            for a, b, o in prods: torch.mm(a, b, out=o)
        else:
            for a, b, o in prods: torch.ops.mkldnn._linear_pointwise(a, b.t(), None, "none", [], "")
    for _ in range(10): step()
    t = time.perf_counter()
    for _ in range(reps): step()
    return (time.perf_counter() - t) / reps

# ---- import cost ---------------------------------------------------------------------------------------------------
def import_cost(stmt):
    "Wall seconds and resident memory (MiB, VmRSS after `stmt`) of a fresh interpreter running `stmt`."
    import subprocess, sys
    code = f"{stmt}; print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])"
    t = time.perf_counter(); out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t, int(out.split()[-1]) / 1024

# ---- measurement -----------------------------------------------------------------------------------------------------
def rounds(methods, n_rounds, label):
    "Run `methods` in turn for `n_rounds`; seconds per method per round, the last results, and the 1-min load per round."
    times, results, loads = {m: [] for m in methods}, {}, []
    for r in range(n_rounds):
        loads.append(os.getloadavg()[0])
        for m, f in methods.items():
            t = time.perf_counter(); results[m] = f(r); times[m].append(time.perf_counter() - t)
        print(f"{label} round {r}: load {loads[-1]:.1f}  " + "  ".join(f"{m} {times[m][-1]:.2f}s" for m in methods), flush=True)
    return times, results, loads

def table(times, per, unit, base, higher_better, extra=None):
    "Markdown: min / median / max of `per / t` (or t / per), ratio of medians against `base`."
    val = (lambda t: per / t) if higher_better else (lambda t: 1000 * t / per)
    print(f"| method | {unit}, min / median / max | median ratio: speed vs {base} |" + (" " + extra[0] + " |" if extra else ""))
    print("|---|---|---|" + ("---|" if extra else ""))
    for m, ts in times.items():
        v = sorted(val(t) for t in ts)
        ratio = statistics.median(times[base]) / statistics.median(ts)
        print(f"| {m} | {v[0]:,.1f} / {statistics.median(v):,.1f} / {v[-1]:,.1f} | {ratio:.2f}x |" + (f" {extra[1][m]} |" if extra else ""))

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", nargs="+", default=["import", "train", "nll"], choices=["import", "train", "nll"])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (one epoch per trainer / one NLL pass per method)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (quick runs)")
    p.add_argument("--n", type=int, default=200, help="valid images scored by the NLL methods")
    p.add_argument("--k", type=int, default=1000, help="importance samples per image")
    p.add_argument("--skip", nargs="*", default=[], help="methods to leave out (e.g. pythae)")
    p.add_argument("--contiguous", action="store_true", help="give every trainer a row-major copy of the data (the file stores it column-major)")
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    from vae_nb.algorithm import VanillaVAE
    from vae_nb.vae import VAE
    from vae_nb.metrics import evaluate_likelihood
    from vae_nb.train import Trainer, evaluate
    from vae_nb.layers import linear_backend, onednn_available
    x_train, x_valid = load("train", a.contiguous)[:a.limit], load("valid", a.contiguous)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"data {'row-major (--contiguous)' if a.contiguous else 'column-major, as stored in the file'}")

    if "import" in a.parts:
        stmts = {"import torch": "import torch", "import torch, vae_nb": "import torch, vae_nb",
                 "from vae_nb import VAE": "import torch; from vae_nb import VAE"}
        rss = {}
        def run(m): t, rss[m] = import_cost(stmts[m]); return t
        times, _, loads = rounds({m: (lambda r, m=m: run(m)) for m in stmts}, a.rounds, "import")
        print(f"\n### Import: {a.rounds} interleaved rounds of a fresh interpreter, load average {min(loads):.1f}-{max(loads):.1f}")
        print("| statement | wall s, min / median / max | median / `import torch` | resident memory (MiB), last round |\n|---|---|---|---|")
        for m, ts in times.items():
            print(f"| `{m}` | {min(ts):.2f} / {statistics.median(ts):.2f} / {max(ts):.2f} | "
                  f"{statistics.median(ts) / statistics.median(times['import torch']):.2f}x | {rss[m]:.1f} (+{rss[m] - rss['import torch']:.1f}) |")
    torch.manual_seed(0); init = coders()
    def fresh(): return same_start(init)
    fast = onednn_available()   # the opt-in rows need torch.ops.mkldnn._linear_pointwise (`use_fast_layers` raises without it)
    print(f"opt-in vae_nb.layers.Linear multiplies float32 through: {linear_backend()}" if fast else
          f"torch {torch.__version__} lacks torch.ops.mkldnn._linear_pointwise: no opt-in rows, no oneDNN floor")
    OPT = "opt-in layers (use_fast_layers)"
    vnb = VAE(*map(lambda m: [m], fresh()), reconstruction_loss="bce")   # the model family's depth-1 VAE on torch's layers, as vae_nb builds it
    trainer = Trainer(vnb, x_train, batch_size=BATCH, lr=LR, device="cpu", seed=0, progress=False)
    if "train" in a.parts:
        methods = {"vae_nb Trainer.fit": lambda r: trainer.fit(r + 1)}
        if fast:
            vnb_fast = VAE(*map(lambda m: [with_layers(m, True)], fresh()), reconstruction_loss="bce")   # the same on the opt-in layers
            trainer_fast = Trainer(vnb_fast, x_train, batch_size=BATCH, lr=LR, device="cpu", seed=0, progress=False)
            methods[f"vae_nb Trainer.fit, {OPT}"] = lambda r: trainer_fast.fit(r + 1)
        plain = Plain(*fresh()); plain_opt = torch.optim.Adam(plain.parameters(), lr=LR)
        loader = DataLoader(TensorDataset(x_train), batch_size=BATCH, shuffle=True)
        methods["plain loop"] = lambda r: plain_epoch(plain, plain_opt, loader)
        tmp = tempfile.TemporaryDirectory()
        if "pythae" not in a.skip:
            pmodel = pythae_model(*fresh()); ptrainer = pythae_trainer(pmodel, x_train, tmp.name)
            methods["pythae BaseTrainer"] = lambda r: ptrainer.train_step(r + 1)
        times, _, loads = rounds(methods, a.rounds, "train")
        models = {"vae_nb Trainer.fit": vnb}
        if fast: models[f"vae_nb Trainer.fit, {OPT}"] = vnb_fast
        models["plain loop"] = VAE([plain.enc], [plain.dec], reconstruction_loss="bce")
        if "pythae" not in a.skip: models["pythae BaseTrainer"] = VAE([pmodel.encoder.net], [pmodel.decoder.net], reconstruction_loss="bce")
        losses = {}
        for m, model in models.items():
            torch.manual_seed(1); losses[m] = f"{evaluate(model, x_valid, batch_size=1000)['loss']:.2f}"
        floors = {b: [gemm_floor(backend=b) for _ in range(5)] for b in (("torch", "onednn") if fast else ("torch",))}
        floor = {b: statistics.median(f) for b, f in floors.items()}
        kernels = {m: linear_backend() if OPT in m else "torch" for m in times}   # whose products each trainer runs
        step = {m: statistics.median(ts) / (len(x_train) / BATCH) for m, ts in times.items()}
        print(f"\n### Training: {a.rounds} interleaved rounds of one epoch ({len(x_train):,} images, batch {BATCH}), "
              f"load average {min(loads):.1f}-{max(loads):.1f}")
        table(times, len(x_train), "samples/s", "plain loop", True, ("valid -ELBO after the rounds (nats)", losses))
        print(f"\nGEMM-only floor of one step (median of 5): torch.mm {1e3 * floor['torch']:.2f} ms (min {1e3 * min(floors['torch']):.2f})"
              + (f", oneDNN {1e3 * floor['onednn']:.2f} ms (min {1e3 * min(floors['onednn']):.2f})" if fast else "")
              + "; median step / the floor of its own products: "
              + ", ".join(f"{m} {s / floor[kernels[m]]:.2f}x ({1e3 * s:.2f} ms, {kernels[m]})" for m, s in step.items()))
    elif "nll" in a.parts:
        trainer.fit(1)   # a model to score: one epoch
    if "nll" in a.parts:
        xs = x_valid[:a.n]
        enc, dec = vnb.encoders[0], vnb.decoders[0]   # torch's layers, as the peers run them too
        vnb.eval()
        algo = VanillaVAE(enc, dec, d_latent=L, recon="bce").eval()   # the algorithm family's VAE around the same modules
        methods = {"vae_nb evaluate_likelihood": lambda r: evaluate_likelihood(algo, xs, k=a.k)["nll"],
                   "vae_nb VAE.iw_nll": lambda r: vnb.iw_nll(xs, k=a.k).mean().item()}
        if fast:
            enc_f, dec_f = with_layers(enc, True), with_layers(dec, True)   # the same weights on the opt-in layers
            algo_f = VanillaVAE(enc_f, dec_f, d_latent=L, recon="bce").eval()
            vnb_f = VAE([enc_f], [dec_f], reconstruction_loss="bce").eval()
            methods[f"vae_nb evaluate_likelihood, {OPT}"] = lambda r: evaluate_likelihood(algo_f, xs, k=a.k)["nll"]
            methods[f"vae_nb VAE.iw_nll, {OPT}"] = lambda r: vnb_f.iw_nll(xs, k=a.k).mean().item()
        methods["naive batched"] = lambda r: naive_nll(enc, dec, xs, a.k)
        if "pythae" not in a.skip:
            pm = pythae_model(enc, dec).eval()
            methods["pythae get_nll"] = lambda r: -pm.get_nll(xs, n_samples=a.k, batch_size=100)
        nlls = {m: [] for m in methods}
        def record(m, f): return lambda r: nlls[m].append(f(r))
        with torch.no_grad(): times, _, loads = rounds({m: record(m, f) for m, f in methods.items()}, a.rounds, "nll")
        print(f"\n### IW-NLL: {a.n} valid images, k = {a.k}, {a.rounds} interleaved rounds (fresh samples each), "
              f"load average {min(loads):.1f}-{max(loads):.1f}")
        ref = statistics.mean(nlls["naive batched"])
        desc = {m: f"{statistics.mean(v):.3f} ± {statistics.stdev(v) / len(v) ** 0.5 if len(v) > 1 else float('nan'):.3f} "
                   f"({statistics.mean(v) - ref:+.3f})" for m, v in nlls.items()}
        table(times, a.n, "ms / image", "naive batched", False, ("NLL, mean over rounds ± s.e. (vs naive) (nats)", desc))
        if "pythae get_nll" in times:
            print("speed vs pythae get_nll: " + ", ".join(f"{m} {statistics.median(times['pythae get_nll']) / statistics.median(ts):.2f}x" for m, ts in times.items()))

if __name__ == "__main__":
    main()
