"""One contract for every exported model: `forward`'s record, `encode`/`decode`, sampling before any forward pass, `loss` equal to
`loss_terms`, each design document's unpacking, a design-style subclass, and builders made of PyTorch's own modules."""
import pytest, torch
from torch import nn
from vae_nb.interface import VAEBase, VAEOutput, DiagonalGaussian, HierarchicalPosterior
from vae_nb.vae import VAE, mlp, mlp_hierarchy
from vae_nb.ladder import LadderVAE
from vae_nb.algorithm import VAEAlgorithm, VanillaVAE, MLPVAE, BetaVAE, MLPBetaVAE, mlp_coders
from vae_nb.conv import ConvVAE, ConvVAE28, conv_coders
from vae_nb.cvae import CVAE, MLPCVAE
from vae_nb.vq import VectorQuantizer, VectorQuantizedVAE, VQVAE, conv_encoder, conv_decoder
from vae_nb.klae import KLAE, AutoencoderKL, PatchDiscriminator
from vae_nb.tcvae import BetaTCVAE
from vae_nb.estimator import VAEEstimatorModule, _mlp
from vae_nb.metrics import FeatureClassifier

torch.set_num_threads(1)
IMG = (1, 8, 8)

def _models():
    "(name, fresh model, input batch, condition or None, the design's unpacking) for every exported model class."
    x64, img, y = torch.rand(6, 64), torch.rand(6, *IMG), torch.arange(6) % 3
    enc, dec = mlp_coders(64, 32, 4)
    return [
        ("VAE", lambda: VAE(**mlp_hierarchy(64, [8]), reconstruction_loss="bce"), x64, None, ("recon", "mus", "logvars", "zs")),
        ("VAE depth 3", lambda: VAE(**mlp_hierarchy(64, [8, 4, 2]), reconstruction_loss="bce"), x64, None, ("recon", "mus", "logvars", "zs")),
        ("LadderVAE", lambda: LadderVAE(**mlp_hierarchy(64, [8, 4], top_down=True), reconstruction_loss="bce"), x64, None,
         ("recon", "mus", "logvars", "zs")),
        ("VanillaVAE", lambda: VanillaVAE(*mlp_coders(64, 32, 4), d_latent=4), x64, None, ("recon", "mu", "logvar")),
        ("MLPVAE", lambda: MLPVAE(64, 32, 4), x64, None, ("recon", "mu", "logvar")),
        ("BetaVAE", lambda: BetaVAE(*mlp_coders(64, 32, 4), d_latent=4, beta=4.0), x64, None, ("recon", "mu", "logvar")),
        ("MLPBetaVAE", lambda: MLPBetaVAE(64, 4, hidden_dim=32), x64, None, ("recon", "mu", "logvar")),
        ("BetaTCVAE", lambda: BetaTCVAE(*mlp_coders(64, 32, 4), d_latent=4, dataset_size=100), x64, None, ("recon", "mu", "logvar")),
        ("ConvVAE", lambda: ConvVAE(1, 4, (8, 8), [8, 16]), img, None, ("recon", "mu", "logvar")),
        ("ConvVAE28", lambda: ConvVAE28(1, 4), torch.rand(2, 1, 28, 28), None, ("recon", "mu", "logvar")),
        ("CVAE", lambda: CVAE(*mlp_coders(64, 32, 4, cond_dim=3), d_latent=4, n_classes=3), x64, y, ("recon", "mu", "logvar")),
        ("MLPCVAE", lambda: MLPCVAE(64, 3, 32, 4), x64, y, ("recon", "mu", "logvar")),
        ("VectorQuantizedVAE", lambda: VectorQuantizedVAE(conv_encoder(1, 16, 8), conv_decoder(8, 16, 1), VectorQuantizer(16, 8),
                                                          input_shape=IMG), img, None, ("recon", "vq_loss", "indices")),
        ("VQVAE", lambda: VQVAE(1, 16, 16, 8, input_shape=IMG), img, None, ("recon", "vq_loss", "indices")),
        ("KLAE", lambda: KLAE(conv_encoder(1, 16, 8), conv_decoder(4, 16, 1), PatchDiscriminator(1, 8, 1), disc_start=0,
                              input_shape=IMG), img, None, ("recon", "mu", "logvar")),
        ("AutoencoderKL", lambda: AutoencoderKL(1, 16, 4, n_downsample=2, disc_hidden_dim=8, disc_layers=1, input_shape=IMG),
         img, None, ("recon", "mu", "logvar")),
        ("VAEEstimatorModule", lambda: VAEEstimatorModule(_mlp([64, 32], True), _mlp([4, 32, 64]), 32, 4), x64, None,
         ("recon", "mu", "logvar")),
    ]

MODELS = _models()

@pytest.mark.parametrize("name,make,x,cond,unpack", MODELS, ids=[m[0] for m in MODELS])
def test_contract(name, make, x, cond, unpack):
    torch.manual_seed(0)
    model = make()
    assert isinstance(model, VAEBase)
    shapes = model.latent_shapes                      # known from construction, before any forward pass
    assert isinstance(shapes, list) and all(isinstance(s, tuple) for s in shapes)
    s = model.sample(3, condition=None if cond is None else cond[:3])
    assert s.shape == (3, *x.shape[1:]) and torch.isfinite(s).all()
    out = model(x, cond) if cond is not None else model(x)
    assert isinstance(out, VAEOutput) and out.recon.shape == x.shape and out.unpack == unpack
    assert len(out.zs) == len(shapes) and all(tuple(z.shape[1:]) == sh for z, sh in zip(out.zs, shapes))
    assert all(isinstance(q, DiagonalGaussian) for q in out.posteriors)
    unpacked = tuple(out)                             # the design document's unpacking, by position
    assert len(unpacked) == len(unpack) and unpacked[0] is out.recon
    q = model.encode(x, cond) if model.conditional else model.encode(x)
    z = out.zs if isinstance(q, HierarchicalPosterior) else out.zs[0]
    params = model.decode(z, cond) if model.conditional else model.decode(z)
    assert torch.is_tensor(params) and params.shape == x.shape
    assert model.reconstruct(x, cond).shape == x.shape
    step = int(model.step)
    torch.manual_seed(1); terms = model.loss_terms(x, cond)
    torch.manual_seed(1); out = model(x, cond)        # the same draws
    loss = model.loss(out.recon, x, *tuple(out)[1:])
    assert torch.allclose(loss, terms["loss"], rtol=1e-4, atol=1e-4), (name, loss.item(), terms["loss"].item())
    assert int(model.step) == step                    # no loss function has side effects

def test_design_style_subclass_trains():
    "A `VAEAlgorithm` subclass written as the pluggable-algorithm design teaches: `encode(self, x)`, `decode(self, z)`."
    class MyVAE(VAEAlgorithm):
        def encode(self, x):
            mu, log_var = self.encoder(x).chunk(2, dim=1)
            return (mu, log_var)
        def sample_latent(self, latent_params): return latent_params[0] + torch.randn_like(latent_params[0]) * (0.5 * latent_params[1]).exp()
        def decode(self, z): return self.decoder(z)
        def regularisation_loss(self, latent_params):
            mu, log_var = latent_params
            return -0.5 * (1 + log_var - mu.pow(2) - log_var.exp()).sum(dim=-1).mean()
        def sample_prior(self, n_samples, device): return torch.randn(n_samples, 4, device=device)
    enc, dec = nn.Sequential(nn.Linear(64, 8)), nn.Sequential(nn.Linear(4, 64))
    algo = MyVAE(enc, dec, torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3))
    terms = algo.train_step(torch.rand(16, 64))
    assert set(terms) >= {"loss", "recon", "reg"} and int(algo.step) == 1
    assert algo.generate(2).shape == (2, 64)

def test_unpack_as_the_designs_show():
    torch.manual_seed(0)
    vae = VAE(encoders=[nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 128))],
              decoders=[nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 784))], input_shape=(784,))
    x = torch.randn(4, 784)
    recon, mus, logvars, zs = vae(x)                                  # lucid
    loss, recon_loss, kl = vae.get_loss(x, recon, mus, logvars, zs)
    zs2, mus2, logvars2 = vae.encode(x)
    assert recon.shape == x.shape and loss.dim() == 0 and len(zs2) == 1
    recon, mu, logvar = MLPVAE(64, 32, 4)(torch.rand(4, 64))          # the variants tutorial's VAE
    assert mu.shape == (4, 4)
    recon, vq_loss, indices = VQVAE(1, 16, 16, 8)(torch.rand(2, 1, 8, 8))   # the variants tutorial's VQ-VAE
    assert vq_loss.dim() == 0 and indices.shape == (2, 2, 2)

BUILDERS = {
    "mlp": lambda: mlp(64, 8, 32, 2, "tanh"),
    "mlp_hierarchy": lambda: nn.ModuleList([m for v in mlp_hierarchy(64, [8, 4], 32).values() for m in v]),
    "mlp_coders": lambda: nn.ModuleList(mlp_coders(64, 32, 4)),
    "conv_coders": lambda: nn.ModuleList(conv_coders(1, 4, (8, 8), [8, 16])),
    "conv_encoder/decoder": lambda: nn.ModuleList([conv_encoder(1, 16, 8), conv_decoder(8, 16, 1)]),
    "estimator _mlp": lambda: _mlp([64, 32, 4]),
    "FeatureClassifier": lambda: FeatureClassifier((1, 8, 8), 10),
}

@pytest.mark.parametrize("name", list(BUILDERS))
def test_builders_are_stock_pytorch(name):
    "Every builder returns modules of `torch.nn` (or vae_nb's own containers of them), and `torch.fx` traces every part."
    built = BUILDERS[name]()
    for m in built.modules():
        mod = type(m).__module__
        assert mod.startswith("torch.nn") or mod in ("vae_nb.vq", "vae_nb.metrics"), (name, type(m))
        assert not mod.startswith("vae_nb.layers"), (name, type(m))
    parts = list(built) if isinstance(built, nn.ModuleList) else [built]
    for part in parts: torch.fx.symbolic_trace(part)

# ---- the structure the contract asks for, checked on the generated library ----
import ast, re
from pathlib import Path
LIB = Path(__file__).resolve().parents[1] / "vae_nb"
CALLERS = ["train", "step", "metrics", "viz", "runs", "commands", "objectives"]
MODEL_MODULES = ["vae", "ladder", "algorithm", "conv", "cvae", "vq", "klae", "tcvae", "estimator"]
ENGINE_AND_PICTURES = {"train", "step", "distributed", "checkpoint", "loaders", "viz", "latent_plots", "metrics", "runs",
                       "commands", "cli"}
MODEL_CLASSES = "VAEBase|VAE|LadderVAE|VAEAlgorithm|VanillaVAE|BetaVAE|ConvVAE|CVAE|VectorQuantizedVAE|VQVAE|KLAE|AutoencoderKL"

@pytest.mark.parametrize("module", CALLERS)
def test_callers_do_not_ask_what_a_model_is(module):
    "No getattr/hasattr/isinstance on a model outside the base (`vae_nb.interface` decides once: is_conditional, check_model, ...)."
    src = (LIB / f"{module}.py").read_text()
    probes = re.findall(r"(?:getattr|hasattr)\(\s*(?:self\.)?(?:model|algo|source|classifier)\b[^)]*\)", src)
    probes += re.findall(r"isinstance\(\s*(?:self\.)?(?:model|algo|source|classifier),(?!\s*Tensor\))[^)]*\)", src)   # a tensor is no model
    probes += re.findall(rf"isinstance\([^()]*,\s*\(?(?:{MODEL_CLASSES})\b", src)
    assert not probes, probes

@pytest.mark.parametrize("module", MODEL_MODULES)
def test_models_import_no_engine_and_no_pictures(module):
    "A model module's imports (at module level) reach neither the training engine nor the pictures."
    tree = ast.parse((LIB / f"{module}.py").read_text())
    imported = {n.module.split(".")[-1] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module and n.level == 1}
    assert not imported & ENGINE_AND_PICTURES, imported & ENGINE_AND_PICTURES

def test_no_patch_on_the_library_s_own_classes():
    "Methods live in class bodies: `@patch` grows other libraries' classes only (none of vae_nb's own)."
    patched = [f"{p.name}:{i + 1}" for p in LIB.glob("*.py") for i, l in enumerate(p.read_text().splitlines()) if l.startswith("@patch")]
    assert not patched, patched

def test_exported_lines_fit_in_120_columns():
    "Every line of every exported notebook cell fits in 120 columns."
    import nbformat
    long = [f"{p.name} cell {i}: {l[:60]}" for p in sorted((LIB.parent / "nbs").glob("*.ipynb"))
            for i, c in enumerate(nbformat.read(p, as_version=4).cells)
            if c.cell_type == "code" and re.match(r"#\|\s*export", c.source)
            for l in c.source.splitlines() if len(l) > 120]
    assert not long, long[:20]
