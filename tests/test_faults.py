"""Faults a user or an attacker can cause (issue 15): crafted run metadata, damaged weights, bad data, numbers past their limits.
Each gets exit status 2 (a training failure: 1) and one line, never a traceback, and nothing is written outside the run folder."""
import contextlib, io, json, math, os, shutil, tempfile
from pathlib import Path
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from vae_nb.cli import main
from cli_helpers import run_main, one_line_error
from vae_nb.runs import RunSpec
from dataclasses import fields

torch.set_num_threads(1)
TINY = ("--hidden", 16, "--latent-dim", 2, "--device", "cpu")



@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    "A tiny vae run on the digits, trained once for the module."
    out = tmp_path_factory.mktemp("faults") / "run"
    code, _, err = run_main("train", "--epochs", 1, "--batch-size", 512, *TINY, "--out", out)
    assert code == 0, err
    return out

def rewrite(folder:Path, edit_meta=None, edit_tensors=None) -> None:
    "Rewrite the run's checkpoint (and its .json copy) with edited metadata and/or tensors."
    path = folder / "checkpoint.safetensors"
    with safe_open(path, "pt") as f: meta = json.loads(f.metadata()["vae_nb"])
    tensors = load_file(path)
    if edit_meta: meta = edit_meta(meta)
    if edit_tensors: edit_tensors(tensors)
    text = json.dumps(meta)
    save_file(tensors, path, metadata={"vae_nb": text})
    (folder / "checkpoint.json").write_text(text)

def set_run(field, value):
    def edit(meta): meta["config"]["run"][field] = value; return meta
    return edit

def snapshot(root:Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}

# The crafted metadata of the issue: each is refused with one line naming the field, by both commands.
CRAFTED = [("beta", -1), ("beta", "abc"), ("hidden", 0), ("hidden", 2**40), ("recon", "xyz"), ("shape", [1, -8, 8]), ("shape", [0, 8, 8]),
           ("shape", "abc"), ("shape", [8, 8]), ("latent_dim", "16"), ("latent_dim", 16.0), ("model", ["vae"]),
           ("data", "nonexistent"), ("data", "../../etc")]

@pytest.mark.parametrize("field,value", CRAFTED)
def test_crafted_run_fields_refused(tiny_run, tmp_path, field, value):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    rewrite(run, set_run(field, value))
    before = snapshot(tmp_path)
    for args in (("eval", run, "--k", 2), ("sample", run, "-n", 4)):
        line = one_line_error(*run_main(*args, "--device", "cpu", cwd=tmp_path)[::2])
        assert f"run field `{field}`" in line, line
    assert snapshot(tmp_path) == before

@pytest.mark.parametrize("config", ["x", [1, 2]])
def test_config_not_an_object_refused(tiny_run, tmp_path, config):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    rewrite(run, lambda m: {**m, "config": config})
    for cmd in ("eval", "sample"):
        assert "`config` must be a JSON object" in one_line_error(*run_main(cmd, run, cwd=tmp_path)[::2])

def test_nan_weights_refused(tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    def poison(tensors):
        key = next(k for k in tensors if k.startswith("model/") and k.endswith("weight"))
        tensors[key].view(-1)[0] = math.nan
    rewrite(run, edit_tensors=poison)
    for cmd in ("eval", "sample"):
        assert "NaN or infinite" in one_line_error(*run_main(cmd, run, "--device", "cpu", cwd=tmp_path)[::2])
    assert not list(run.glob("samples-*.png"))   # no image of NaNs

def test_nonfinite_data_named_before_training(tmp_path):
    rng = np.random.default_rng(0)
    splits = {s: (rng.random((20, 784)) < .5).astype(np.float32) for s in ("train", "valid", "test")}
    splits["train"][7, 3] = np.nan
    np.savez(tmp_path / "bm.npz", **splits)
    line = one_line_error(*run_main("train", "--data", "binarized-mnist", "--root", tmp_path / "bm.npz", "--out", tmp_path / "d", *TINY)[::2])
    assert "bm.npz" in line and "row 7 of the train split" in line, line
    assert not (tmp_path / "d").exists()

def test_divergence_one_line_no_empty_folder(tmp_path):
    code, _, err = run_main("train", "--lr", 1e10, "--epochs", 1, "--out", tmp_path / "d", *TINY)
    line = one_line_error(code, err, status=1)
    assert "at step" in line and "no checkpoint was written" in line, line
    assert not (tmp_path / "d").exists()

def test_out_refuses_user_files_and_overwrite_removes_only_the_runs(tiny_run, tmp_path):
    user = tmp_path / "userdir"; user.mkdir(); (user / "history.csv").write_text("precious")
    assert "not a vae_nb run" in one_line_error(*run_main("train", "--epochs", 1, "--out", user, *TINY)[::2])
    assert (user / "history.csv").read_text() == "precious" and len(list(user.iterdir())) == 1
    run = shutil.copytree(tiny_run, tmp_path / "run")
    assert run_main("sample", run, "-n", 4, "--device", "cpu")[0] == 0
    (run / "notes.txt").write_text("mine"); (run / ".checkpoint.safetensors.99999.tmp").write_bytes(b"stale")
    code, _, err = run_main("train", "--model", "conv", "--epochs", 1, "--batch-size", 512, *TINY, "--overwrite", "--out", run)
    assert code == 0, err
    names = {p.name for p in run.iterdir()}
    assert "notes.txt" in names and "samples-4-seed0.png" not in names and ".checkpoint.safetensors.99999.tmp" not in names, names
    assert json.loads((run / "checkpoint.json").read_text())["config"]["run"]["model"] == "conv"

def test_sample_creates_missing_folder(tiny_run, tmp_path):
    code, _, err = run_main("sample", tiny_run, "-n", 4, "--device", "cpu", "--out", tmp_path / "newdir" / "x.png")
    assert code == 0 and (tmp_path / "newdir" / "x.png").stat().st_size > 0, err

@pytest.mark.parametrize("args,message", [
    (("train", "--seed", 1180591620717411303424), "--seed: must be an int from 0 to 9223372036854775807"),
    (("train", "--seed", -1), "--seed: must be an int from 0"),
    (("sample", "RUN", "-n", 1000000000), "-n: must be an int from 1 to 10000"),
    (("eval", "RUN", "--k", 100000000), "--k: must be an int from 1 to 100000"),
])
def test_numbers_past_their_limits(tiny_run, tmp_path, args, message):
    args = [tiny_run if a == "RUN" else a for a in args] + (["--out", tmp_path / "o"] if args[0] == "train" else [])
    assert message in one_line_error(*run_main(*args)[::2])

@pytest.mark.parametrize("flag,value", [("--batch-size", 7), ("--seed", 3), ("--hidden", 32), ("--no-binarize", None)])   # the tiny run binarizes (the default on digits)
def test_resume_refuses_differing_settings(tiny_run, tmp_path, flag, value):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    before = snapshot(run)
    line = one_line_error(*run_main("train", "--resume", "--out", run, "--epochs", 2, flag, *([] if value is None else [value]))[::2])
    assert "--resume" in line and flag in line, line
    assert snapshot(run) == before

def test_resume_takes_the_runs_settings(tiny_run, tmp_path):
    "Without flags, --resume continues with the recorded batch size (512: 3 steps an epoch), not the default 128."
    run = shutil.copytree(tiny_run, tmp_path / "run")
    code, _, err = run_main("train", "--resume", "--out", run, "--epochs", 2, "--device", "cpu")
    assert code == 0, err
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["step"] == 6 and meta["trainer"]["batch_size"] == 512

def test_resume_takes_a_new_lr(tiny_run, tmp_path):
    "--lr is the one setting --resume may change: applied for the rest of the run, announced, recorded."
    run = shutil.copytree(tiny_run, tmp_path / "run")
    code, out, err = run_main("train", "--resume", "--out", run, "--epochs", 2, "--lr", 5e-4, "--device", "cpu")
    assert code == 0, err
    assert out.splitlines()[0].startswith("--resume: continuing with --lr 0.0005 (the run had "), out
    meta = json.loads((run / "checkpoint.json").read_text())
    assert (meta["trainer"]["lr"], meta["config"]["run"]["lr"], meta["trainer"]["batch_size"]) == (5e-4, 5e-4, 512)
    assert [r["lr"] for r in meta["history"] if r["split"] == "train"][-1] == 5e-4

# Property: random corruptions of a real run folder never give a traceback, and nothing outside the folder is written.
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
RUN_FIELDS = [f.name for f in fields(RunSpec)]

def drop_run(field):
    def edit(meta): meta["config"]["run"].pop(field, None); return meta
    return edit

def corrupt_run_field(draw, run:Path) -> None:
    field = draw(st.sampled_from(RUN_FIELDS + ["unknown"]))
    rewrite(run, set_run(field, draw(JSON)) if draw(st.booleans()) else drop_run(field))

def corrupt_meta(draw, run:Path) -> None:
    key = draw(st.sampled_from(["config", "model", "format", "version", "optimizers", "rng", "trainer", "step", None]))
    value = draw(JSON)
    rewrite(run, (lambda m: value) if key is None else (lambda m: {**m, key: value}))

def corrupt_tensor(draw, run:Path) -> None:
    def edit(tensors):
        key = draw(st.sampled_from(sorted(k for k in tensors if k.startswith("model/"))))
        how = draw(st.sampled_from(["shape", "drop", "nan", "inf", "huge", "dtype"]))
        t = tensors[key]
        if how == "shape": tensors[key] = torch.zeros(draw(st.lists(st.integers(0, 5), max_size=3)))
        elif how == "drop": del tensors[key]
        elif how == "dtype": tensors[key] = t.double()
        else:
            value = {"nan": math.nan, "inf": math.inf, "huge": 1e30}[how] if t.is_floating_point() else draw(st.integers(-2**63, 2**63 - 1))
            t.view(-1)[draw(st.integers(0, t.numel() - 1))] = value
    rewrite(run, edit_tensors=edit)

def corrupt_bytes(draw, run:Path) -> None:
    path = run / "checkpoint.safetensors"
    data = bytearray(path.read_bytes())
    if draw(st.booleans()): data = data[:draw(st.integers(0, len(data) - 1))]   # truncated
    else:
        for i in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=4)): data[i] ^= 0xFF   # flipped bytes
    path.write_bytes(bytes(data))

@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_corruptions_never_traceback(tiny_run, data):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = shutil.copytree(tiny_run, tmp / "run")
        outside = tmp / "outside"; outside.mkdir(); (outside / "keep.txt").write_text("keep")
        corrupt = data.draw(st.sampled_from([corrupt_run_field, corrupt_meta, corrupt_tensor, corrupt_bytes]))
        corrupt(data.draw, run)
        before = snapshot(tmp)
        for args in (("eval", run, "--k", 2, "--device", "cpu"), ("sample", run, "-n", 4, "--device", "cpu")):
            code, _, err = run_main(*args, cwd=outside)
            assert code in (0, 2), (corrupt.__name__, args[0], code, err)
            if code == 2: one_line_error(code, err)
        after = snapshot(tmp)
        assert {p for p in after if not p.is_relative_to(run)} == {p for p in before if not p.is_relative_to(run)}
        assert all(after[p] == before[p] for p in before if not p.is_relative_to(run)), "a file outside the run folder changed"
