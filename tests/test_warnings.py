"A warning about the user's call names the user's line, however deep in vae_nb it is raised."
import warnings
from torch import nn
from vae_nb.config import VAEConfig
from vae_nb.vae import VAE

def _levels():
    "Two encoders and two decoders: a two-level hierarchy whose `hierarchical_kl` is left unset."
    return [nn.Linear(8, 4), nn.Linear(2, 4)], [nn.Linear(2, 8), nn.Linear(2, 2)]

def _where(call) -> list[tuple[str, int]]:
    "File and line of each warning `call` raises."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always"); call()
    return [(w.filename, w.lineno) for w in caught]

def test_the_hierarchical_kl_warning_names_the_callers_line():
    here = test_the_hierarchical_kl_warning_names_the_callers_line.__code__.co_firstlineno
    assert _where(lambda: VAEConfig(*_levels())) == [(__file__, here + 2)]        # a config built directly
    assert _where(lambda: VAE(*_levels())) == [(__file__, here + 3)]              # through the model
    cfg = VAEConfig(*_levels(), hierarchical_kl=True)
    assert _where(lambda: setattr(cfg, "hierarchical_kl", None)) == [(__file__, here + 5)]   # a later change
