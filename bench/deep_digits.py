#!/usr/bin/env python
"""The reduced four-level hierarchy of `tests/test_deep_hierarchy.py` (issue 24): `--latent-dims 64,32,16,8` on the 8x8
digits, batch 64, lr 1e-3, one thread, under the settings of the issue's main (`BEFORE`) with one change, or under
`--model hvae`'s defaults; prints the largest and the last epoch loss.

usage: python bench/deep_digits.py [--seed 3] [--steps 4200] [--change none|floor|skip|balance|warmup|tanh|defaults]
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from test_deep_hierarchy import BEFORE, _digits_hierarchy   # noqa: E402
from vae_nb.runs import MODELS   # noqa: E402

CHANGES = {"none": {}, "floor": {"logvar_min": -10.0}, "skip": {"grad_skip": "auto"}, "balance": {"kl_balance": True},
           "warmup": {"kl_warmup": 2100}, "tanh": {"activation": "tanh", "hidden": 200, "layers": 2}}

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--steps", type=int, default=4200)
    p.add_argument("--change", default="none", choices=[*CHANGES, "defaults"])
    a = p.parse_args()
    spec = ({**MODELS["hvae"].defaults, "latent_dims": (64, 32, 16, 8), "latent_dim": 64, "kl_warmup": a.steps // 2}
            if a.change == "defaults" else {**BEFORE, **CHANGES[a.change]})
    h = _digits_hierarchy(a.seed, a.steps, **spec)
    print(f"{a.change}, seed {a.seed}, {a.steps} steps: max epoch loss {max(r['loss'] for r in h):.4g}, "
          f"last {h[-1]['loss']:.4g} ({len(h)} epochs)")
