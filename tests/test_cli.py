"The `vae_nb` command end to end, in subprocesses: train, eval, sample, and one-line exit-2 errors that write nothing."
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

def vae_nb(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VAE_NB_DATA": str(Path(cwd or ".") / "nodata")}
    return subprocess.run([sys.executable, "-m", "vae_nb", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    r = vae_nb("train", "--epochs", 2, "--out", out, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    return out, r

def test_train_writes_outputs(run):
    out, r = run
    assert {"checkpoint.safetensors", "checkpoint.json", "history.csv", "history.json", "loss_curve.png",
            "reconstructions.png", "samples.png"} <= {p.name for p in out.iterdir()}
    assert f"outputs in {out}" in r.stdout
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text()) if h["split"] == "train"] == [1, 2]

def test_eval_and_sample(run):
    out, _ = run
    r = vae_nb("eval", out, "--k", 20, "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["split"] == "test" and res["n"] == 300 and res["nll"] <= -res["elbo"] + 1e-3
    assert abs(res["nll_bits_per_dim"] - res["nll"] / (64 * 0.6931471805599453)) < 1e-6
    r = vae_nb("sample", out, "-n", 16)
    assert r.returncode == 0, r.stderr
    assert (out / "samples-16-seed0.png").stat().st_size > 0

def test_bad_input_one_line_exit_2_nothing_written(run, tmp_path):
    out, _ = run
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    cases = [("train", "--model", "nope", "--out", tmp_path / "a"),           # unknown model, lists the valid ones
             ("train", "--data", "imagenet", "--out", tmp_path / "b"),         # unknown data
             ("train", "--out", out),                                          # would overwrite a run
             ("train", "--model", "vq", "--beta", 2, "--out", tmp_path / "c"), # incompatible flags
             ("train", "--out", tmp_path / "junk.safetensors" / "x"),          # unwritable --out
             ("train", "--data", "mnist", "--no-download", "--out", tmp_path / "d"),  # no local copy
             ("eval", tmp_path / "junk.safetensors"),                          # corrupt checkpoint
             ("sample", out, "-n", 0)]
    for args in cases:
        r = vae_nb(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "error:" in r.stderr, (args, r.stderr)
    assert "choose from 'vae'" in vae_nb("train", "--model", "nope").stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.safetensors"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
