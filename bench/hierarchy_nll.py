#!/usr/bin/env python
"""One level against two levels (bottom-up and top-down) against a deep hierarchy, on statically binarized MNIST, with
the published reference architecture (tanh MLPs of 2 x 200 units) and the same schedule for every model.

Recipes (Bernoulli decoder logits, initialised for tanh with the decoder's output bias at the data's marginal logits
(`vae_nb.vae.init_output_bias`), Adam 1e-3 (eps 1e-4) cosine-decayed to 0, batch 100, the 50,000 `train` images):
  vae      one level, 50 units (784-200-200-50), ELBO
  iwae5    the same trained on the IWAE bound, k=5
  hvae     two levels (100, 50), bottom-up inference, learned prior p(z_0 | z_1), ELBO
  ladder   two levels (100, 50), top-down inference (`vae_nb.ladder.LadderVAE`), ELBO
  deep     four levels (100, 50, 25, 12), top-down inference, ELBO
  deep_bu  four levels (100, 50, 25, 12), bottom-up inference, ELBO
`--warmup N` ramps the KL weight from 0 to 1 over the first N epochs (`LinearWarmup`), `--free-bits` sets a floor in nats
per latent unit; both change the training loss only. Reported on the first `--eval-n` valid images: the importance-weighted
NLL (`evaluate_likelihood`, k=`--k`), and per level the KL (nats per image) and active units (`level_statistics`).

usage: OMP_NUM_THREADS=1 python bench/hierarchy_nll.py --recipes vae --epochs 30 --warmup 5 --name part_a
       python bench/hierarchy_nll.py --merge bench/results/part_*.json --name hierarchy_cpu
"""
import argparse, json, math, sys, time
from pathlib import Path
import torch
from vae_nb.vae import VAE, mlp_hierarchy, init_output_bias
from vae_nb.ladder import LadderVAE, level_statistics
from vae_nb.config import LinearWarmup
from vae_nb.objectives import IWAEObjective
from vae_nb.train import fit, seed_everything
from vae_nb.metrics import evaluate_likelihood
from vae_nb.data import load_binarized_mnist

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {   # name, latent sizes, model class, IWAE k
    "vae": ("one level (50)", [50], VAE, None), "iwae5": ("one level (50), IWAE k=5", [50], VAE, 5),
    "hvae": ("two levels (100, 50), bottom-up", [100, 50], VAE, None), "ladder": ("two levels (100, 50), top-down", [100, 50], LadderVAE, None),
    "deep": ("four levels (100, 50, 25, 12), top-down", [100, 50, 25, 12], LadderVAE, None),
    "deep_bu": ("four levels (100, 50, 25, 12), bottom-up", [100, 50, 25, 12], VAE, None),
}

def build(key, train, args):
    "The recipe's model, initialised for tanh, its decoder's output bias at the training data's marginal."
    _, dims, cls, _ = RECIPES[key]
    steps = math.ceil(len(train) / 100)
    model = cls(**mlp_hierarchy(784, dims, 200, layers=2, activation="tanh", top_down=cls is LadderVAE), reconstruction_loss="bce",
                beta_schedule=LinearWarmup(args.warmup * steps) if args.warmup else None, free_bits=args.free_bits)
    init_output_bias(model.decoders[0], train)
    return model

def run(key, train, valid, args):
    seed_everything(args.seed)
    model = build(key, train, args)
    k = RECIPES[key][3]
    t0 = time.perf_counter()
    hist = fit(model if k is None else IWAEObjective(model, k), train, epochs=args.epochs, batch_size=100, schedule="cosine", seed=args.seed,
               optimizer=lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-4), device="cpu", precision="fp32", progress=False, verbose=True)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stats = level_statistics(model, valid[:args.eval_n])
    ev = evaluate_likelihood(model.eval(), valid[:args.eval_n], k=args.k, chunk_size=200, batch_size=20)
    eval_s = time.perf_counter() - t0
    r = dict(recipe=key, model=RECIPES[key][0], objective="ELBO" if k is None else f"IWAE k={k}", nll=ev["nll"], nll_se=ev["nll_se"], elbo=ev["elbo"],
             kl=stats["kl"], active_units=stats["active_units"], units=stats["units"], epochs=args.epochs, warmup=args.warmup, free_bits=args.free_bits,
             train_s=round(train_s), eval_s=round(eval_s), k=args.k, eval_n=ev["n"], history=[{a: b for a, b in h.items() if isinstance(b, (int, float))} for h in hist])
    print(json.dumps({a: b for a, b in r.items() if a != "history"}), flush=True)
    return r

def table(results):
    lines = ["| model | objective | epochs | KL warm-up | NLL (valid) | ELBO | KL per level (nats) | active units per level | train | eval |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['objective']} | {r['epochs']} | {r['warmup']} epochs | {r['nll']:.2f} ± {r['nll_se']:.2f} | {r['elbo']:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in r['kl'])} | {', '.join(f'{a}/{u}' for a, u in zip(r['active_units'], r['units']))} | "
                     f"{r['train_s'] / 60:.0f} min | {r['eval_s'] / 60:.0f} min |")
    return "\n".join(lines) + "\n"

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", default="vae,hvae,ladder,deep", help=f"comma-separated, from {list(RECIPES)}")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=0, help="epochs of linear KL warm-up (0: none)")
    p.add_argument("--free-bits", type=float, default=0.0)
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--eval-n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data" / "binarized_mnist.npz"))
    p.add_argument("--name", default="hierarchy_cpu")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="only combine earlier results into <name>.json/.md")
    args = p.parse_args(argv)
    out = ROOT / "bench" / "results"; out.mkdir(parents=True, exist_ok=True)
    if args.merge: results = [r for f in args.merge for r in json.loads(Path(f).read_text())["results"]]
    else:
        torch.set_num_threads(1)
        train = load_binarized_mnist(args.data, "train").tensors[0].flatten(1)
        valid = load_binarized_mnist(args.data, "valid").tensors[0].flatten(1)
        results = [run(key, train, valid, args) for key in args.recipes.split(",")]
    command = "python bench/hierarchy_nll.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / f"{args.name}.json").write_text(json.dumps(dict(command=command, results=results), indent=1))
    (out / f"{args.name}.md").write_text(table(results) + f"\nCommand: `{command}`\n")
    print(table(results))

if __name__ == "__main__": main()
