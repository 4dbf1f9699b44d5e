"""Code written against the five design documents (shared/designs/), run with vae_nb's imports: issue 26's findings.

Each test is one finding: the design's call either works or fails with one line naming vae_nb's spelling.
"""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import vae_nb
from vae_nb import (VAE, VAEConfig, MLPVAE, BetaVAE, MLPBetaVAE, VanillaVAE, VectorQuantizer, VectorQuantiser, VQVAE,
                    CVAE, KLAE, PatchDiscriminator, VAEEstimator, vae_loss)
from vae_nb.vq import conv_encoder, conv_decoder


def digits(n=128):
    "A small batch of real data in [0, 1]: scikit-learn's 8x8 digits."
    from sklearn.datasets import load_digits
    return torch.tensor(load_digits().data[:n], dtype=torch.float32) / 16


# Finding 1 (contract work): a subclass written the design's way, encode(self, x) / decode(self, z), trains.
def test_1_design_subclass_trains():
    class Mine(VanillaVAE):
        def encode(self, x): return super().encode(x)
        def decode(self, z): return self.decoder(z)
    torch.manual_seed(0)
    enc, dec = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8)), nn.Linear(4, 64)
    algo = Mine(enc, dec, torch.optim.Adam([*enc.parameters(), *dec.parameters()], 1e-3), 4)
    assert set(algo.train_step(digits(32))) >= {"loss", "recon", "reg"}


# Finding 2: the variants tutorial's sized classes point to vae_nb's sized spelling.
def test_2_tutorial_names_point_to_sized_spelling():
    with pytest.raises(TypeError, match=r"vae_nb\.MLPVAE\(784, 512, 20\)"): vae_nb.VAE(784, 512, 20)
    with pytest.raises(TypeError, match=r"vae_nb\.MLPBetaVAE\(784, latent_dim=10, beta=4\.0\)"):
        BetaVAE(784, latent_dim=10, beta=4.0)
    model = MLPVAE(784, 512, 20)
    assert model.latent_dim == 20 and MLPBetaVAE(784, latent_dim=10).latent_dim == 10
    mu, logvar = torch.zeros(3, 20), torch.zeros(3, 20)
    assert model.reparameterize(mu, logvar).shape == (3, 20)


# Finding 3: the quantisers unpack the way each design shows.
def test_3_vq_returns_unpack_like_the_designs():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 16, 16)
    recon, vq_loss, indices = VQVAE(in_channels=3, hidden_dim=16, num_embeddings=32, embedding_dim=8)(images)
    assert recon.shape == images.shape and vq_loss.dim() == 0 and indices.shape == (2, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z_q, loss, indices = VectorQuantizer(32, 8)(torch.randn(2, 8, 4, 4))          # tutorial: channels first
        assert z_q.shape == (2, 8, 4, 4) and loss.dim() == 0 and indices.shape == (2, 4, 4)
        z_q, idx, loss = VectorQuantiser(32, 8)(torch.randn(2, 4, 4, 8))              # pluggable: channels last
        assert z_q.shape == (2, 4, 4, 8) and idx.shape == (2, 4, 4) and loss.dim() == 0


# Finding 4: the pluggable design's constructor orders and keyword names.
def test_4_pluggable_constructor_orders_and_keywords():
    torch.manual_seed(0)
    x = digits(32)
    enc, dec, q = nn.Linear(64, 8), nn.Linear(8, 64), VectorQuantiser(16, 8)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters(), *q.parameters()], 1e-3)
    vq = VQVAE(enc, dec, opt, q)
    assert vq.quantizer is q and vq.optimizer is opt and np.isfinite(vq.train_step(x)["loss"])
    cvae = CVAE(nn.Linear(64 + 4, 16), nn.Linear(8 + 4, 64), None, 8, cond_encoder=nn.Embedding(10, 4))
    assert np.isfinite(cvae.train_step(x, torch.randint(0, 10, (32,)))["loss"])
    enc, dec, disc = conv_encoder(1, 16, 8), conv_decoder(4, 16, 1), PatchDiscriminator(1, 8, 1)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 1e-3)
    disc_opt = torch.optim.Adam(disc.parameters(), 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        klae = KLAE(enc, dec, opt, (4, 4, 4), perceptual_loss_fn=lambda a, b: F.mse_loss(a, b),   # a scalar
                    discriminator=disc, disc_optimizer=disc_opt, disc_start=0)
    terms = klae.train_step(torch.rand(4, 1, 16, 16))
    assert klae.optimizer is opt and klae.optimizers[1] is disc_opt and np.isfinite(terms["loss"])
    assert "disc_loss" in terms


# Finding 5: `vae_nb.train` is the engine's module; the design's function is vae_nb.algorithm.train.
def test_5_design_train_function():
    from vae_nb.algorithm import train
    torch.manual_seed(0)
    algo = MLPVAE(64, 32, 4)
    history = train(algo, DataLoader(TensorDataset(digits(64)), batch_size=32), 2)
    assert len([r for r in history if r.get("split", "train") == "train"]) >= 2


def test_5_from_vae_nb_import_train_is_callable():
    from vae_nb import train
    train(MLPVAE(64, 32, 4), digits(32), 1)


# Finding 6: defaults that differ are accepted where sound, or said.
def test_6_defaults_that_differ_are_said():
    torch.manual_seed(0)
    x, recon = torch.rand(8, 64), torch.rand(8, 64)
    mu, logvar = torch.randn(8, 4), torch.randn(8, 4)
    tutorial = F.binary_cross_entropy(recon, x, reduction="sum") - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
    assert torch.allclose(vae_loss(recon, x, mu, logvar), tutorial, rtol=1e-4)      # the tutorial sums over the batch
    real = torch.randn(16, 64)                                                      # real-valued data, default BCE
    with pytest.raises(ValueError, match="pass recon='mse' \\(the pluggable design's default\\)"):
        VanillaVAE(nn.Linear(64, 8), nn.Linear(4, 64), None, 4).train_step(real)
    assert np.isfinite(VanillaVAE(nn.Linear(64, 8), nn.Linear(4, 64), None, 4, recon="mse").train_step(real)["loss"])
    import vae_nb.vq, vae_nb.klae
    with pytest.warns(UserWarning, match="loss / z_e\\[0\\].numel\\(\\)"):
        z_q, loss, indices = VectorQuantizer(16, 4)(torch.randn(2, 4, 3, 3))
    with pytest.warns(UserWarning, match="pass pixel_loss='mse', disc_start=0"):
        KLAE(conv_encoder(1, 16, 8), conv_decoder(4, 16, 1), None, (4, 4, 4), disc=PatchDiscriminator(1, 8, 1))
    with pytest.warns(UserWarning, match="pass hierarchical_kl=False or True"):          # lucid's default is True
        assert VAEConfig([nn.Linear(64, 8), nn.Linear(4, 4)], [nn.Linear(4, 64), nn.Linear(2, 4)]).hierarchical_kl is False


# Finding 7: a BCE decoder that applies its sigmoid inside forward is flagged on the first training batch (a warning).
def test_7_sigmoid_inside_forward_is_caught():
    class SigmoidInside(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__(); self.linear = nn.Linear(d_in, d_out)
        def forward(self, z): return torch.sigmoid(self.linear(z))
    torch.manual_seed(0)
    x = digits(32)
    lucid = VAE(VAEConfig([nn.Linear(64, 8)], [SigmoidInside(4, 64)], reconstruction_loss="bce"))
    with pytest.warns(UserWarning, match="a sigmoid inside forward\\?\\): remove the sigmoid"): lucid.loss_terms(x)
    algo = VanillaVAE(nn.Linear(64, 8), SigmoidInside(4, 64), None, 4)
    with pytest.warns(UserWarning, match="pass output='sigmoid'"): algo.train_step(x)
    ok = VanillaVAE(nn.Linear(64, 8), SigmoidInside(4, 64), None, 4, output="sigmoid")
    assert np.isfinite(ok.train_step(x)["loss"])


# Finding 8: the estimator's users' habits.
def test_8_estimator_habits():
    torch.manual_seed(0)
    X = digits(64)
    est = VAEEstimator(latent_dim=2, max_epochs=1, random_state=0).fit(DataLoader(TensorDataset(X), batch_size=16))
    assert est.transform(X[:5]).shape == (5, 2)
    with pytest.raises(TypeError, match="pass device='cuda' \\(or 'cpu'\\)"):
        VAEEstimator(accelerator="gpu")
    import vae_nb.estimator
    with pytest.warns(UserWarning, match="the trained networks are `encoder_`"):
        VAEEstimator(nn.Linear(64, 16), nn.Linear(2, 64), 16, latent_dim=2, max_epochs=1).fit(X.numpy())


# Finding 9: VAEConfig's rules hold after construction, and the one-decoder layout is said.
def test_9_vaeconfig_rules():
    c = VAEConfig([nn.Linear(64, 8)], [nn.Linear(4, 64)])
    with pytest.raises(ValueError, match="`kl_weight` must be a finite non-negative number, got -5"): c.kl_weight = -5
    assert VAE(c).current_beta() == 1.0
    # one data decoder with priors at depth 2 is vae_nb's standard hierarchy: accepted as such
    assert VAEConfig([nn.Linear(64, 8), nn.Linear(4, 4)], [nn.Linear(4, 64)], priors=[nn.Linear(2, 8)]).depth == 2
