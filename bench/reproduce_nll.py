#!/usr/bin/env python
"""Reproduce published likelihoods on statically binarized MNIST with vae_nb's `VAE`, `IWAEObjective`, `fit` and
`evaluate_likelihood`.

Recipes (tanh MLPs with two hidden layers of 200 units, initialised for tanh by `vae_nb.vae.mlp_hierarchy`, the decoder's
output bias at the training data's marginal logits (`init_output_bias`), Bernoulli decoder logits, Adam, batch 100,
trained on the 50,000 `train` images):
  vae       one stochastic layer, 784-200-200-50 (IWAE paper), trained on the ELBO
  iwae5     the same architecture trained on the IWAE bound, k=5
  iwae50    the same architecture trained on the IWAE bound, k=50
  vae2      two stochastic layers (100, 50), bottom-up inference (`VAE`), learned prior p(z_0 | z_1), ELBO
  ladder    two stochastic layers (100, 50), top-down inference (`vae_nb.ladder.LadderVAE`), ELBO
  deep      four stochastic layers (100, 50, 25, 12), top-down inference, ELBO
`--warmup N` ramps the ELBO's KL weight from 0 to 1 over the first N epochs (`LinearWarmup`; the IWAE bound has none).
Beside the NLL, each row reports per level the KL (nats per image) and the active units (`level_statistics`).
The NLL is the importance-weighted estimate with k=5000 samples (`vae_nb.metrics.evaluate_likelihood`) on the first
`--eval-n` images of the `valid` split (published numbers are on the test split, which is not in ../shared/data).

Schedules: `--device cuda` runs the IWAE paper's schedule, 3^i epochs at lr 1e-3 * 10^(-i/7) for i = 0..7 (3,280 epochs),
Adam(beta1=0.9, beta2=0.999, eps=1e-4). On the CPU a SHORTENED schedule runs (15 epochs for vae and vae2, 6 for iwae5,
1 for iwae50; lr 1e-3 cosine-decayed to 0, same Adam) with the NLL on the first 1,000 valid images; the output says so.
On one quiet thread a vae step took ~9 ms (15 epochs: ~70 s) and 10,000 log-weights of it ~0.46 s (the k=5000 NLL of
1,000 images: ~4 min per model); on a loaded shared machine everything is several times slower, so run the recipes as
parallel single-thread processes (`--recipes vae --name part_a`, ...) and combine them with `--merge part_a.json ...`.

usage: python bench/reproduce_nll.py [--device cpu|cuda] [--recipes vae,iwae5,vae2,iwae50,ladder,deep] [--eval-n 1000]
                                     [--epochs N] [--warmup N] [--k 5000] [--data ../shared/data/binarized_mnist.npz] [--threads 2]
"""
import argparse, json, math, os, platform, sys, time
from datetime import datetime, timezone
from pathlib import Path
import torch
from vae_nb.vae import VAE, mlp_hierarchy, init_output_bias
from vae_nb.ladder import LadderVAE, level_statistics
from vae_nb.config import LinearWarmup
from vae_nb.objectives import IWAEObjective
from vae_nb.train import fit
from vae_nb.distributed import seed_everything
from vae_nb.metrics import evaluate_likelihood
from vae_nb.data import load_binarized_mnist

ROOT = Path(__file__).resolve().parents[1]
PAPER_STAGES = 8  # IWAE paper: stage i lasts 3^i epochs at lr 1e-3 * 10^(-i/7)

ABLATION = {"skip": False, "default_init": False}   # set by --skip and --default-init (ablations of 02_vae's choices)

def build(dims, top_down=False):
    "A hierarchy of `dims` latent units (lowest first) of tanh MLPs with two hidden layers of 200, initialised for tanh (`mlp_hierarchy`)."
    model = (LadderVAE if top_down else VAE)(**mlp_hierarchy(784, dims, 200, layers=2, activation="tanh", top_down=top_down,
                                                              skip=ABLATION["skip"]), reconstruction_loss="bce")
    if ABLATION["default_init"]:   # PyTorch's own initialisation instead of `init_for_activation`
        for m in model.modules():
            if isinstance(m, torch.nn.Linear): m.reset_parameters()
    return model

def one_level(): return build([50])
def two_level(): return build([100, 50])

# published test-split NLLs in nats on static binarized MNIST, as collected in issue 7 and ../shared/data/README.md
RECIPES = {
    "vae":    dict(name="VAE, 1 stochastic layer (784-200-200-50)", build=one_level, k=None, cpu_epochs=15, published="89.8-89.9"),
    "iwae5":  dict(name="IWAE k=5, same architecture", build=one_level, k=5, cpu_epochs=6, published="n/a (k=50: 86.8-87.1)"),
    "vae2":   dict(name="VAE, 2 stochastic layers (100, 50), bottom-up, learned prior", build=two_level, k=None, cpu_epochs=15, published="85.3-86.1"),
    "iwae50": dict(name="IWAE k=50, same architecture", build=one_level, k=50, cpu_epochs=1, published="86.8-87.1"),
    "ladder": dict(name="VAE, 2 stochastic layers (100, 50), top-down (LadderVAE)", build=lambda: build([100, 50], top_down=True), k=None, cpu_epochs=15, published="n/a"),
    "deep":   dict(name="VAE, 4 stochastic layers (100, 50, 25, 12), top-down (LadderVAE)", build=lambda: build([100, 50, 25, 12], top_down=True), k=None, cpu_epochs=15,
                   published="n/a"),
}

def paper_schedule(steps_per_epoch):
    "lr factor of the IWAE paper: 10^(-i/7) during stage i, which lasts 3^i epochs."
    bounds = [sum(3**j for j in range(i + 1)) for i in range(PAPER_STAGES)]  # cumulative epochs at the end of each stage
    def factor(step, total):
        epoch = step // steps_per_epoch
        return 10 ** (-next((i for i, b in enumerate(bounds) if epoch < b), PAPER_STAGES - 1) / 7)
    return factor, bounds[-1]

def run_recipe(key, train, valid, args, device):
    r = RECIPES[key]
    seed_everything(args.seed)
    model = r["build"]()
    if not ABLATION["default_init"]: init_output_bias(model.decoders[0], train)   # the output bias at the data's marginal logits
    steps_per_epoch = math.ceil(len(train) / 100)
    if args.warmup: model.beta = LinearWarmup(args.warmup * steps_per_epoch)   # the ELBO's KL weight 0 -> 1 (IWAE objectives do not use it)
    trainee = model if r["k"] is None else IWAEObjective(model, r["k"])
    override = args.epochs.get(key) if isinstance(args.epochs, dict) else args.epochs
    if device.type == "cuda" and override is None: schedule, epochs, sched_name = *paper_schedule(steps_per_epoch), "IWAE paper: 3^i epochs at lr 1e-3*10^(-i/7), i=0..7"
    else:
        schedule, epochs = "cosine", override or r["cpu_epochs"]
        sched_name = f"SHORTENED: {epochs} epochs, lr 1e-3 cosine-decayed to 0"
    adam = lambda params: torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-4)
    print(f"[{key}] {r['name']}: {sched_name} on {device}", flush=True)
    if device.type == "cpu": torch.set_num_threads(args.train_threads)
    t0 = time.perf_counter()
    hist = fit(trainee, train, epochs=epochs, batch_size=100, optimizer=adam, schedule=schedule, device=device,
               precision="fp32", seed=args.seed, progress=False)
    train_s = time.perf_counter() - t0
    last = hist[-1]
    print(f"[{key}] trained {epochs} epochs in {train_s:.0f}s; last epoch: " + ", ".join(f"{k}={v:.2f}" for k, v in last.items() if isinstance(v, float)), flush=True)
    if device.type == "cpu": torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model.eval()
    levels = level_statistics(model, valid[:args.eval_n].to(device))
    ev = evaluate_likelihood(model, valid[:args.eval_n].to(device), k=args.k, chunk_size=args.chunk_size, batch_size=args.eval_batch)
    eval_s = time.perf_counter() - t0
    print(f"[{key}] NLL (valid[:{ev['n']}], k={args.k}) = {ev['nll']:.2f} +- {ev['nll_se']:.2f} nats, ELBO {ev['elbo']:.2f}; eval {eval_s:.0f}s", flush=True)
    return dict(recipe=key, model=r["name"], objective="ELBO" if r["k"] is None else f"IWAE k={r['k']}", nll=ev["nll"], nll_se=ev["nll_se"],
                elbo=ev["elbo"], kl=levels["kl"], active_units=levels["active_units"], units=levels["units"], warmup=args.warmup, k_eval=args.k, eval_n=ev["n"], split="valid", published_test=r["published"], epochs=epochs,
                steps=int(last.get("step", epochs * steps_per_epoch)), schedule=sched_name, train_s=round(train_s, 1), eval_s=round(eval_s, 1),
                device=str(device), device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({args.train_threads} thread train, {args.threads} eval, {platform.machine()})",
                final_train=last)

def markdown(results, args):
    lines = [f"NLL in nats on the first {args.eval_n} images of the **valid** split of static binarized MNIST, importance-weighted "
             f"with k={args.k} (`vae_nb.metrics.evaluate_likelihood`; ± one standard error over images). Published numbers are on the "
             "**test** split (not available here) with the full schedule.", "",
             "| model | objective | ours: NLL (valid) | ours: ELBO | published NLL (test) | epochs | KL warm-up | KL per level (nats) | active units per level | schedule | train time | eval time | device |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        warmup = f"{r.get('warmup') or 0} epochs" if r["objective"] == "ELBO" else "none (IWAE bound)"
        levels = (", ".join(f"{v:.2f}" for v in r["kl"]), ", ".join(f"{a}/{u}" for a, u in zip(r["active_units"], r["units"]))) if "kl" in r else ("", "")
        lines.append(f"| {r['model']} | {r['objective']} | {r['nll']:.2f} ± {r['nll_se']:.2f} | {r['elbo']:.2f} | {r['published_test']} | {r['epochs']} | "
                     f"{warmup} | {levels[0]} | {levels[1]} | {r['schedule']} | {r['train_s'] / 60:.1f} min | {r['eval_s'] / 60:.1f} min | {r['device_name']} |")
    return "\n".join(lines) + "\n"

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu (shortened schedule) or cuda (the IWAE paper's schedule)")
    p.add_argument("--recipes", default="vae,vae2,iwae5,iwae50", help=f"comma-separated, from {list(RECIPES)}")
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data" / "binarized_mnist.npz"))
    p.add_argument("--eval-n", type=int, default=None, help="evaluate the first N valid images (default: 1000 on CPU, all 10,000 on CUDA)")
    p.add_argument("--k", type=int, default=5000, help="importance samples for the NLL")
    p.add_argument("--epochs", default=None, help="override the epochs (cosine schedule): N for every recipe, or per recipe like vae=15,iwae5=6")
    p.add_argument("--warmup", type=int, default=0, help="epochs of linear KL warm-up for the ELBO recipes (0: none)")
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--eval-batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=2, help="CPU threads for the k=5000 evaluation (large batches)")
    p.add_argument("--train-threads", type=int, default=1, help="CPU threads for training (small batches: 1 is fastest on a shared machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", action="store_true", help="ablation: one decoder per level, each sample added into the decoding path")
    p.add_argument("--default-init", action="store_true", help="ablation: PyTorch's default initialisation, no output bias at the marginal")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder for <name>.json/.md")
    p.add_argument("--name", default=None, help="file stem of the results (default reproduce_nll_<device>)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON", help="only merge the results of earlier runs (e.g. run in parallel) into <name>.json/.md")
    args = p.parse_args(argv)
    ABLATION.update(skip=args.skip, default_init=args.default_init)
    if args.epochs is not None:
        try: args.epochs = int(args.epochs) if "=" not in args.epochs else {k: int(v) for k, v in (kv.split("=") for kv in args.epochs.split(","))}
        except ValueError: p.error(f"--epochs must be N or recipe=N,...; got {args.epochs!r}")
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    args.eval_n = args.eval_n or (10_000 if gpu else 1000)
    args.chunk_size = args.chunk_size or (5000 if gpu else 500)
    args.eval_batch = args.eval_batch or (100 if gpu else 20)
    keys = [k.strip() for k in args.recipes.split(",") if k.strip()]
    bad = [k for k in keys if k not in RECIPES]
    if bad: p.error(f"--recipes: unknown {bad}; choose from {list(RECIPES)}")
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    stem = out / (args.name or f"reproduce_nll_{device.type}")
    command = "python bench/reproduce_nll.py " + " ".join(map(_portable, sys.argv[1:] if argv is None else argv))
    if args.merge:
        runs = [json.loads(Path(f).read_text()) for f in args.merge]
        return write(stem, args, [r for run in runs for r in run["results"]], " ; ".join(run["command"] for run in runs),
                     max(run["total_s"] for run in runs), any(run["shortened"] for run in runs), parallel=len(runs))
    if not gpu: print("NOTE: CPU run -> SHORTENED training schedules (a few epochs, not the paper's 3,280); numbers are far from converged.", flush=True)
    train = load_binarized_mnist(args.data, "train").tensors[0].flatten(1)
    valid = load_binarized_mnist(args.data, "valid").tensors[0].flatten(1)
    results, t_start = [], time.perf_counter()
    for key in keys:
        results.append(run_recipe(key, train, valid, args, device))
        md = write(stem, args, results, command, time.perf_counter() - t_start, not gpu or args.epochs is not None)
    print(md)

def _portable(arg:str) -> str:
    "A command-line argument as a reader can type it: an absolute path relative to the repository root."
    return os.path.relpath(arg, ROOT) if os.path.isabs(arg) else arg

def write(stem, args, results, command, total_s, shortened, parallel=1):
    "Write `stem`.json and `stem`.md; return the markdown."
    meta = dict(command=command, finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), total_s=round(total_s, 1),
                shortened=shortened, eval_n=args.eval_n, k=args.k, torch=torch.__version__, results=results)
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    md = ("**CPU run: shortened schedules, far from the paper's 3,280 epochs.**\n\n" if shortened else "") + markdown(results, args)
    md += (f"\nCommand: `{command}`; total wall time {total_s / 60:.1f} min" + (f" (the longest of {parallel} single-thread processes run in parallel, one recipe each)" if parallel > 1 else "")
           + f"; torch {torch.__version__}.\n")
    stem.with_suffix(".md").write_text(md)
    return md

if __name__ == "__main__": main()
