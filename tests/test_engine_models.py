"The training engine trains every model of the library through one `fit`, and checkpoints round-trip for each."
import math
import pytest
import torch
from torch import nn
from vae_nb.data import load_digits_data
from vae_nb.train import Trainer, load_checkpoint, read_checkpoint

torch.set_num_threads(1)

def vae():
    from vae_nb.vae import VAE, mlp_hierarchy
    return VAE(**mlp_hierarchy(64, [4]), reconstruction_loss="bce")

def hvae():
    from vae_nb.vae import VAE, mlp_hierarchy
    return VAE(**mlp_hierarchy(64, [8, 4], hidden_dim=32), reconstruction_loss="bce")

def mlp_vae():
    from vae_nb.algorithm import MLPVAE
    return MLPVAE((1, 8, 8), hidden_dim=32, latent_dim=4)

def beta_vae():
    from vae_nb.algorithm import MLPBetaVAE
    return MLPBetaVAE((1, 8, 8), hidden_dim=32, latent_dim=4)

def conv_vae():
    from vae_nb.conv import ConvVAE
    return ConvVAE(in_channels=1, latent_dim=4, image_size=8, channels=(8, 16))

def vq_vae():
    from vae_nb.vq import VectorQuantizedVAE, VectorQuantizer
    return VectorQuantizedVAE(nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16)),
                              nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.Unflatten(1, (1, 8, 8))),
                              VectorQuantizer(32, 16, init="data"))

MODELS = {"vae": vae, "hvae": hvae, "mlp_vae": mlp_vae, "beta_vae": beta_vae, "conv_vae": conv_vae, "vq_vae": vq_vae}
FLAT = {"vae", "hvae"}   # these take flattened (N, 64) inputs

@pytest.fixture(scope="module")
def digits(): return load_digits_data("train"), load_digits_data("test")

@pytest.mark.parametrize("name", MODELS)
def test_fit_checkpoint_resume(name, digits, tmp_path):
    train, valid = digits
    if name in FLAT: train, valid = (d.tensors[0].flatten(1) for d in digits)
    torch.manual_seed(0)
    model = MODELS[name]()
    kw = dict(valid_data=valid, batch_size=128, device="cpu", seed=0, progress=False, out_dir=tmp_path)
    trainer = Trainer(model, train, **kw)
    history = trainer.fit(3)
    train_records = [r for r in history if r["split"] == "train"]
    assert len(train_records) == 3 and all(math.isfinite(r["loss"]) for r in train_records), history
    assert train_records[-1]["recon"] < train_records[0]["recon"], history   # the reconstruction improves (VQ's codebook terms may grow early)
    assert any(r["split"] == "valid" for r in history)
    meta, _ = read_checkpoint(tmp_path / "checkpoint.safetensors")
    assert meta["step"] == trainer.step == 3 * 12 and meta["model"]["class"].endswith(type(model).__name__)
    # a fresh model of the same kind loads the weights and optimizer state, and resumes for one more epoch
    torch.manual_seed(1)
    fresh = MODELS[name]()
    resumed = Trainer(fresh, train, **kw)
    resumed.fit(4, resume=True)
    assert resumed.step == 4 * 12 and len([r for r in resumed.history if r["split"] == "train"]) == 4
    load_checkpoint(tmp_path / "checkpoint.safetensors", MODELS[name]())
