"Property-based tests of `vae_nb.vq.VectorQuantizer` over latent shapes, codebook sizes and training/eval mode."
import torch
from hypothesis import given, settings, strategies as st
from vae_nb.vq import VectorQuantizer, code_usage

torch.set_num_threads(1)

shapes = st.tuples(st.integers(1, 4), st.integers(1, 6), st.lists(st.integers(1, 4), max_size=2))

@settings(max_examples=60, deadline=None)
@given(shape=shapes, k=st.integers(1, 20), ema=st.booleans(), training=st.booleans(), seed=st.integers(0, 2**16))
def test_quantizer_properties(shape, k, ema, training, seed):
    n, d, spatial = shape
    torch.manual_seed(seed)
    vq = VectorQuantizer(k, d, ema=ema).train(training)
    codes_before = vq.codebook.detach().clone()
    z_e = torch.randn(n, d, *spatial) * 3
    out = vq(z_e)
    assert out.z_q.shape == z_e.shape and out.indices.shape == (n, *spatial)
    # nearest code under the codebook used for the lookup (before any EMA update)
    rows = z_e.movedim(1, -1).reshape(-1, d)
    dist = torch.cdist(rows, codes_before) ** 2
    chosen = dist.gather(1, out.indices.reshape(-1, 1)).squeeze(1)
    assert torch.all(chosen <= dist.min(1).values + 1e-4)
    assert torch.allclose(out.z_q, codes_before[out.indices].movedim(-1, 1), atol=1e-5)
    assert out.codebook_loss >= 0 and out.commitment_loss >= 0
    assert 1 - 1e-4 <= out.perplexity <= k + 1e-4 and 0 < out.usage <= 1
    if not training: assert torch.equal(vq.codebook.detach(), codes_before)  # evaluation never changes the codebook

@settings(max_examples=30, deadline=None)
@given(indices=st.lists(st.integers(0, 9), min_size=1, max_size=50))
def test_code_usage_bounds(indices):
    p, u = code_usage(torch.tensor(indices), 10)
    assert 1 - 1e-5 <= p <= len(set(indices)) + 1e-4
    assert abs(u - len(set(indices)) / 10) < 1e-6
