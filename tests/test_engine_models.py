"The training engine trains every model of the library through one `fit`, and checkpoints round-trip for each."
import math
import pytest
import torch
from torch import nn
from vae_nb.data import load_digits_data
from vae_nb.train import Trainer
from vae_nb.checkpoint import load_checkpoint, read_checkpoint

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

def ladder():
    from vae_nb.vae import mlp_hierarchy
    from vae_nb.ladder import LadderVAE
    return LadderVAE(**mlp_hierarchy(64, [8, 4], hidden_dim=32, top_down=True), reconstruction_loss="bce")

# every model class the package exports is an ordinary callable module built on `VAEBase`
def _callable_models():
    from vae_nb.algorithm import VanillaVAE, MLPVAE, BetaVAE, MLPBetaVAE, mlp_coders
    from vae_nb.conv import ConvVAE, ConvVAE28
    from vae_nb.cvae import CVAE, MLPCVAE
    from vae_nb.klae import KLAE, AutoencoderKL
    from vae_nb.estimator import VAEEstimatorModule
    from vae_nb.vq import VQVAE
    img, flat, y = torch.rand(3, 1, 8, 8), torch.rand(3, 64), torch.tensor([0, 1, 2])
    coders = lambda: mlp_coders((1, 8, 8), 16, 4)
    return {   # class -> (model, args of model(...), what model(...) returns)
        "VAE": (vae(), (flat,), "lucid"), "LadderVAE": (ladder(), (flat,), "lucid"), "VanillaVAE": (VanillaVAE(*coders(), d_latent=4), (img,), "gauss"),
        "MLPVAE": (mlp_vae(), (img,), "gauss"), "BetaVAE": (BetaVAE(*coders(), d_latent=4), (img,), "gauss"),
        "MLPBetaVAE": (beta_vae(), (img,), "gauss"), "ConvVAE": (conv_vae(), (img,), "gauss"),
        "ConvVAE28": (ConvVAE28(channels=(8, 8, 16, 16)), (torch.rand(2, 1, 28, 28),), "gauss"),
        "CVAE": (CVAE(*mlp_coders((1, 8, 8), 16, 4, cond_dim=3), d_latent=4, n_classes=3), (img, y), "gauss"),
        "MLPCVAE": (MLPCVAE((1, 8, 8), 3, 16, 4), (img, y), "gauss"),
        "KLAE": (KLAE(nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(4, 1, 3, padding=1)), (img,), "gauss"),
        "AutoencoderKL": (AutoencoderKL(1, 8, 2, n_downsample=1, n_res_blocks=1, disc_hidden_dim=None), (img,), "gauss"),
        "VAEEstimatorModule": (VAEEstimatorModule(nn.Linear(64, 8), nn.Linear(2, 64), 8, 2), (flat,), "gauss"),
        "VectorQuantizedVAE": (vq_vae(), (img,), "vq"), "VQVAE": (VQVAE(1, hidden_dim=8, num_embeddings=8, embedding_dim=4, n_downsample=1), (img,), "vq")}

def test_every_exported_model_is_callable():
    import vae_nb
    from vae_nb.interface import VAEBase, VAEOutput
    exported = {n for n in vae_nb.__all__ if isinstance(getattr(vae_nb, n), type) and issubclass(getattr(vae_nb, n), VAEBase)}
    cases = _callable_models()
    assert exported - {"VAEBase", "VAEAlgorithm"} <= set(cases), f"add a case for {exported - set(cases) - {'VAEBase', 'VAEAlgorithm'}}"
    for name, (model, args, kind) in cases.items():
        out = model(*args)
        x = args[0]
        if kind == "gauss": assert isinstance(out, VAEOutput) and out.recon.shape == x.shape and out.mu.shape == out.logvar.shape, name
        elif kind == "vq": assert out[0].shape == x.shape and out[1].dim() == 0, name
        else: assert out[0].shape == x.shape and len(out) == 4, name   # the lucid VAE: (recon, mus, logvars, zs)

def test_eval_likelihood_same_density_for_every_command_line_model():
    "`vae_nb eval`'s path (metrics.evaluate_likelihood) scores an \"mse\" model under N(out, 1/2 I) whatever its class:"
    "its -ELBO is the training loss (summed squared error + KL) plus D/2 log(pi), for the MLP VAE and the conv VAE alike."
    from vae_nb.runs import MODELS, RunSpec
    from vae_nb.metrics import evaluate_likelihood
    from vae_nb.interface import evaluating
    x = load_digits_data("test").tensors[0][:64]
    D = x[0].numel()
    for name in ("vae", "conv"):
        spec = RunSpec(model=name, recon="mse", shape=(1, 8, 8), latent_dim=4, hidden=16, beta=1.0 if name == "vae" else None)
        torch.manual_seed(0)
        model = MODELS[name].build(spec)
        with evaluating(model): loss = torch.stack([model.loss_terms(x)["loss"] for _ in range(200)]).mean().item()
        r = evaluate_likelihood(model, x, k=200)
        assert abs(-r["elbo"] - (loss + D / 2 * math.log(math.pi))) < 0.02 * abs(loss) + 0.5, (name, r, loss)
        assert r["nll"] <= -r["elbo"] + 1e-3
