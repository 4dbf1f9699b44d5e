"Property-based tests for `vae_nb.config` schedules and `vae_nb.vae.VAE` over random depths and latent sizes."
import math
import torch
from torch import nn
from hypothesis import given, settings, strategies as st
from vae_nb import VAE, mlp_hierarchy, LinearWarmup, CyclicalAnnealing

torch.set_num_threads(1)
betas = st.floats(0, 10, allow_nan=False)

@settings(max_examples=200, deadline=None)
@given(st.integers(1, 1000), st.integers(1, 20), st.floats(0.01, 1.0), betas, betas, st.integers(0, 5000))
def test_cyclical_annealing_in_range(total, cycles, ratio, b1, b2, step):
    "β stays between beta_min and beta_max, restarts at beta_min and ends at beta_max."
    if cycles > total: cycles = total
    lo, hi = min(b1, b2), max(b1, b2)
    s = CyclicalAnnealing(total, cycles, ratio, beta_max=hi, beta_min=lo)
    b = s(step)
    assert lo - 1e-9 <= b <= hi + 1e-9
    if step >= total: assert b == hi
    assert s(0) == lo

@settings(max_examples=200, deadline=None)
@given(st.integers(1, 1000), betas, betas, st.integers(0, 5000), st.integers(0, 5000))
def test_linear_warmup_monotone(n, b1, b2, s1, s2):
    "A warm-up from a lower to a higher β never decreases."
    lo, hi = min(b1, b2), max(b1, b2)
    w = LinearWarmup(n, beta_max=hi, beta_min=lo)
    a, b = sorted((s1, s2))
    assert w(a) <= w(b) + 1e-12 and lo - 1e-9 <= w(a) <= hi + 1e-9

@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=4), st.booleans(), st.sampled_from(["bce", "mse"]), st.integers(1, 5))
def test_any_depth_and_latent_sizes(latent_dims, learned_priors, kind, n):
    "Any number of levels and latent sizes: shapes, finite loss == recon + kl (β=1, no hierarchical weighting), samples, IW-NLL."
    torch.manual_seed(0)
    model = VAE(**mlp_hierarchy(6, latent_dims, hidden_dim=8, learned_priors=learned_priors, skip=True), reconstruction_loss=kind, hierarchical_kl=False)
    x = torch.rand(n, 6)
    recon, mus, logvars, zs = model(x)
    assert recon.shape == x.shape and [z.shape[1] for z in zs] == latent_dims
    loss, recon_loss, kl = model.get_loss(x, recon, mus, logvars, zs)
    assert math.isfinite(loss.item()) and abs(loss.item() - (recon_loss + kl).item()) < 1e-3
    assert int(model.step) == 0   # a loss has no side effects
    zs = [z.detach().requires_grad_() for z in zs]
    model.decode(zs).sum().backward()
    assert all(z.grad.abs().sum() > 0 for z in zs)  # every level reaches the output
    assert model.sample(3).shape == (3, 6)
    assert model.log_importance_weights(x, 4).shape == (n, 4)
    assert torch.isfinite(model.iw_nll(x, k=8, chunk_size=3)).all()
