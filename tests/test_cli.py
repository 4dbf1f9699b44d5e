"The `vae_nb` command end to end, in subprocesses: train, eval, sample, and one-line exit-2 errors that write nothing."
import json, math, os, subprocess, sys
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
    epoch_lines = [l for l in r.stdout.splitlines() if l.startswith("epoch ")]
    assert [l.split()[1] for l in epoch_lines] == ["1", "2"] and "\r" not in r.stdout, r.stdout   # no bar when stdout is a pipe
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

# In-process runs of the models added to the command (conv, cvae, klae): `main` returns the exit status the shell would see.
from safetensors.torch import load_file
import torch
from vae_nb.cli import MODELS, main
torch.set_num_threads(1)

def run_main(capsys, *args):
    "Run `main(args)`; return (status, stdout, stderr)."
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err

@pytest.mark.parametrize("model", ["conv", "cvae", "klae"])
def test_new_models_train_eval_sample(model, tmp_path, capsys):
    out = tmp_path / model
    code, stdout, err = run_main(capsys, "train", "--model", model, "--epochs", 1, "--batch-size", 256, "--device", "cpu", "--out", out)
    assert code == 0, err
    assert {"checkpoint.safetensors", "history.json", "loss_curve.png", "reconstructions.png", "samples.png"} <= {p.name for p in out.iterdir()}
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["config"]["run"]["model"] == model and meta["step"] == 6   # 1497 digits / 256 per step
    assert meta["config"]["run"]["n_classes"] == (10 if MODELS[model].conditional else None)
    assert len(meta["optimizers"]) == (2 if model == "klae" else 1)         # klae: two objectives, autoencoder + discriminator
    code, stdout, err = run_main(capsys, "eval", out, "--k", 5, "--device", "cpu", "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["model"] == model and res["n"] == 300 and all(math.isfinite(v) for v in res["terms"].values())
    if MODELS[model].likelihood: assert res["nll"] <= -res["elbo"] + 1e-3 and res["nll"] > 0
    else: assert "nll" not in res
    code, stdout, err = run_main(capsys, "sample", out, "-n", 20, "--device", "cpu")
    assert code == 0, err
    from PIL import Image
    width, height = Image.open(out / "samples-20-seed0.png").size       # 8x8 images drawn 32 px wide, 2 px apart
    assert (width, height) == ((2 * 34 + 2, 10 * 34 + 2) if model == "cvae" else (8 * 34 + 2, 3 * 34 + 2))   # cvae: a row per class
    code, _, err = run_main(capsys, "train", "--out", out, "--resume", "--epochs", 2, "--batch-size", 256, "--device", "cpu")
    assert code == 0, err                                                   # weights and every optimizer state load back
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 12

def test_cvae_label_and_conditional_eval(tmp_path, capsys):
    out = tmp_path / "cvae"
    assert run_main(capsys, "train", "--model", "cvae", "--epochs", 3, "--device", "cpu", "--out", out)[0] == 0
    code, stdout, _ = run_main(capsys, "sample", out, "--label", 7, "-n", 8, "--nrow", 4, "--device", "cpu")
    assert code == 0 and "(label 7)" in stdout and (out / "samples-8-label7-seed0.png").exists()
    # eval passes each image's label: the ELBO equals the model's own loss terms computed with the labels
    _, stdout, _ = run_main(capsys, "eval", out, "--k", 200, "--device", "cpu", "--json")
    res = json.loads(stdout)
    assert abs(-res["elbo"] - (res["terms"]["recon"] + res["terms"]["kl"])) < 0.02 * abs(res["elbo"]), res

def test_bad_flag_combinations_one_line_exit_2(tmp_path, capsys):
    run = tmp_path / "vae"
    assert run_main(capsys, "train", "--epochs", 1, "--device", "cpu", "--out", run)[0] == 0
    cvae = tmp_path / "cvae"
    assert run_main(capsys, "train", "--model", "cvae", "--epochs", 1, "--device", "cpu", "--out", cvae)[0] == 0
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    cases = {("train", "--model", "conv", "--beta", 2, "--out", tmp_path / "x"): "--beta does not apply to --model conv",
             ("train", "--model", "cvae", "--beta", 2, "--out", tmp_path / "x"): "--beta does not apply to --model cvae",
             ("train", "--model", "cvae", "--data", "binarized-mnist", "--out", tmp_path / "x"): "needs labels, but --data binarized-mnist has none",
             ("train", "--save-every", 0, "--out", tmp_path / "x"): "--save-every: must be a positive int",
             ("train", "--model", "conv", "--out", run, "--resume"): "holds a run with --model vae, got --model conv",
             ("sample", run, "--label", 3): "--label applies to conditional models only",
             ("sample", cvae, "--label", 10): "--label must be a class of digits, 0 to 9, got 10",
             ("sample", cvae, "--nrow", 4): "a conditional model's grid has one row per class"}
    for args, message in cases.items():
        code, _, err = run_main(capsys, *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, (args, err)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before

def test_save_every_and_exact_resume(tmp_path, capsys):
    "With --save-every 2, 3 epochs still end with a checkpoint, and 2 epochs + --resume to 3 gives the same weights as 3 straight."
    common = ("--device", "cpu", "--save-every", 2, "--seed", 1)
    assert run_main(capsys, "train", "--epochs", 3, "--out", tmp_path / "straight", *common)[0] == 0
    assert run_main(capsys, "train", "--epochs", 2, "--out", tmp_path / "resumed", *common)[0] == 0
    assert json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["epoch"] == 2
    assert run_main(capsys, "train", "--epochs", 3, "--out", tmp_path / "resumed", "--resume", *common)[0] == 0
    a, b = (load_file(tmp_path / d / "checkpoint.safetensors") for d in ("straight", "resumed"))
    assert json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["epoch"] == 3
    for k in a:
        if k.startswith(("model/", "optim/")): assert torch.equal(a[k], b[k]), k

def test_ctrl_c_saves_and_exits_130(tmp_path):
    "The first Ctrl-C finishes the step, writes a checkpoint that --resume continues from, and exits with 130."
    import signal
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    args = ["train", "--epochs", 100000, "--save-every", 100000, "--device", "cpu", "--out", out]
    p = subprocess.Popen([sys.executable, "-m", "vae_nb", *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in p.stdout:                       # wait until two epochs are done (no checkpoint yet: --save-every 100000)
            if "epoch 2 " in line: break
        assert not (out / "checkpoint.safetensors").exists()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally: p.kill()
    assert p.returncode == 130, err
    assert "interrupted after step" in err.strip().splitlines()[-1], err
    meta = json.loads((out / "checkpoint.json").read_text())
    assert meta["step"] >= 24 and f"after step {meta['step']};" in err
    r = vae_nb("train", "--out", out, "--resume", "--epochs", meta["epoch"] + 1, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] == meta["epoch"] + 1

def test_resume_trains_to_the_runs_own_epochs(tmp_path, capsys):
    "A stopped run continues with plain --resume to the epochs it was started with, also beside a model `save`d into its"
    " folder; a run that has its epochs is refused, naming them."
    import signal
    from vae_nb.runs import load_run, save
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "vae_nb", *map(str, ["train", "--epochs", 60, "--device", "cpu", "--out", out])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in p.stdout:
            if "epoch 2 " in line: break
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally: p.kill()
    assert p.returncode == 130, err
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] < 60
    model, spec, _ = load_run(out); save(model, spec, out)     # model.safetensors, newer than the checkpoint
    code, stdout, err = run_main(capsys, "train", "--out", out, "--resume", "--device", "cpu")
    assert code == 0, err
    assert json.loads((out / "checkpoint.json").read_text())["epoch"] == 60 and "for 60 epochs" in stdout
    code, _, err = run_main(capsys, "train", "--out", out, "--resume", "--device", "cpu")
    assert code == 2 and "has trained 60 epochs already; pass --epochs above 60" in err, err

def test_resume_takes_the_data_path_it_was_trained_on(tmp_path, capsys):
    "--data with the table's path, as at the start, is the run's own data, not a different one."
    import numpy as np
    table, out = tmp_path / "t.csv", tmp_path / "run"
    np.savetxt(table, np.random.default_rng(0).normal(size=(60, 3)), delimiter=",")
    assert run_main(capsys, "train", "--data", table, "--epochs", 1, "--device", "cpu", "--out", out)[0] == 0
    code, _, err = run_main(capsys, "train", "--data", table, "--epochs", 2, "--device", "cpu", "--out", out, "--resume")
    assert code == 0, err
    code, _, err = run_main(capsys, "train", "--data", tmp_path / "other.csv", "--epochs", 3, "--device", "cpu", "--out", out, "--resume")
    assert code == 2 and "holds a run with --data t, got --data" in err, err

def _torch_is_loading(pid:int) -> bool:
    "Whether process `pid` has mapped PyTorch's library, i.e. is inside `import torch`."
    try: return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError: return False

@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see when PyTorch is loading")
@pytest.mark.parametrize("when", ["torch loading", 0.5, 1.5, 3.0, 6.0])
def test_ctrl_c_during_startup_is_one_line(tmp_path, when):
    "Ctrl-C at any moment of start-up (or just after it) ends the command with status 130 and one line, never a traceback."
    import signal, time
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "vae_nb", "train", "--epochs", "100000", "--out", str(tmp_path / "run")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        if when == "torch loading":
            deadline = time.monotonic() + 60
            while not _torch_is_loading(p.pid) and time.monotonic() < deadline: time.sleep(0.005)
            assert _torch_is_loading(p.pid), "PyTorch was never loaded"
        else: time.sleep(when)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally: p.kill()
    lines = err.strip().splitlines()
    assert p.returncode == 130 and len(lines) == 1 and lines[0].startswith("vae_nb: interrupted"), (p.returncode, err)

def test_fast_layers_opt_in(run, tmp_path):
    "--fast-layers: the same run on vae_nb's oneDNN layers where torch has the operator, else one line, exit 2."
    from vae_nb.layers import onednn_available
    out, _ = run
    r = vae_nb("eval", out, "--k", 5, "--json", "--fast-layers")
    if onednn_available():
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["n"] == 300
    else:
        assert r.returncode == 2 and "--fast-layers" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

def _help(flag:str) -> str:
    "The help text of `vae_nb train`'s `flag`, as written (argparse's wrapping aside)."
    from vae_nb.cli import build_parser
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    return next(a.help for a in train._actions if flag in a.option_strings)

@pytest.mark.parametrize("flag, name", [("--latent-dim", "latent_dim"), ("--hidden", "hidden")])
def test_help_states_each_models_default_as_the_code_has_it(flag, name):
    "The per-model defaults in --help are the `RunSpec` each model is built from, not a copied number."
    from vae_nb.runs import RunSpec
    stated = _help(flag).rsplit("(default: ", 1)[1].rstrip(")").split("; ")
    said = {m: stated[0] for m in MODELS}
    for part in stated[1:]:
        models, value = part.split(": ")
        said.update({m: value for m in models.split(", ")})
    assert said == {m: str(getattr(RunSpec(**(k.defaults or {})), name)) for m, k in MODELS.items()}, stated

def test_save_every_help_says_what_the_code_does():
    "Every epoch up to the epochs the help names, then as many checkpoints a run as it says (the last epoch included)."
    import re
    from vae_nb.commands import _save_every
    text = " ".join(_help("--save-every").split())
    every, least, most = map(int, re.search(r"up to (\d+) epochs.*: (\d+) to (\d+) checkpoints a run", text).groups())
    assert all(_save_every(e) == 1 for e in range(1, every + 1)) and _save_every(every + 1) > 1, text
    counts = [math.ceil(e / _save_every(e)) for e in range(every + 1, 20_000)]
    assert (min(counts), max(counts)) == (least, most), text
