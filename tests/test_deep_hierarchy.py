"Deep hierarchies built the command line's way train at the default learning rate without a non-finite loss."
import math
import pytest
import torch
from vae_nb.data import load_digits_data
from vae_nb.runs import MODELS, RunSpec
from vae_nb.train import Trainer


@pytest.mark.parametrize("dims", [(16, 8, 4, 2), (16, 16, 8, 8, 4, 4, 2, 2)])
def test_deep_hierarchy_trains_3000_steps(dims):
    "4 and 8 levels (reduced sizes) for 3,000 steps: the 4-level model of `--latent-dims 64,32,16,8` diverged at step 2603."
    torch.set_num_threads(1)
    x = load_digits_data("train").tensors[0]
    torch.manual_seed(0)
    spec = RunSpec(**{**MODELS["hvae"].defaults, "model": "hvae", "shape": (1, 8, 8), "latent_dims": dims,
                      "latent_dim": dims[0], "kl_warmup": 1500})   # the command line keeps a default warm-up to half the run
    trainer = Trainer(MODELS["hvae"].build(spec), x, batch_size=64, seed=0, progress=False, device="cpu")
    history = trainer.fit(10**6, max_steps=3000)
    assert trainer.step == 3000 and all(math.isfinite(r["loss"]) for r in history)
    assert history[-1]["loss"] < history[0]["loss"] - 5
    assert trainer.skippers[0] is not None   # a hierarchy skips outlier updates by default
    assert trainer.model.config.kl_balance   # and balances its levels' KL during the warm-up
