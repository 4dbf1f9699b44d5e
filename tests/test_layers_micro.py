"bench/layers_micro.py runs (one round of the cheap parts), so the figures quoted in nbs/00a_layers.ipynb stay reproducible."
import os, subprocess, sys
from pathlib import Path
import pytest
from vae_nb.layers import onednn_available, _prefers_onednn

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.skipif(not (onednn_available() or _prefers_onednn()), reason="this torch has no oneDNN linear, and this CPU would not use it")
def test_layers_micro_runs():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "layers_micro.py"), "--rounds", "1", "--parts", "crossover", "functions"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True).stdout
    assert "2M multiply-adds" in out and "transform-ready" in out, out
