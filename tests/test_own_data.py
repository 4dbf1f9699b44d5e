"Your own data through the command line: a folder of PNGs, a .npy array and a .csv table train, evaluate, sample and encode; bad files exit 2 with one line."
import json, os, subprocess, sys, zipfile
from pathlib import Path
import numpy as np
import pytest
import torch
from torchvision.io import decode_image, ImageReadMode, write_png
from vae_nb.cli import main
from vae_nb.user_data import DataSource
from vae_nb.runs import load, load_run, save

ROOT = Path(__file__).resolve().parent.parent
torch.set_num_threads(1)

def make_folder(root:Path, n:int=10) -> Path:
    "Class sub-folders `bars` and `dots` of 8x8 grey PNGs, each image distinct."
    g = torch.Generator().manual_seed(0)
    for c, cls in enumerate(["bars", "dots"]):
        (root / "imgs" / cls).mkdir(parents=True)
        for i in range(n):
            img = (torch.rand(1, 8, 8, generator=g) * 100).to(torch.uint8)
            img[0, :, 2 * c::4] += 150
            write_png(img, str(root / "imgs" / cls / f"{i:02d}.png"))
    return root / "imgs"

def make_table(path:Path, n:int=40) -> Path:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(n, 3)) * [1, 10, 100] + [0, 50, -300]
    path.write_text("height,weight,size,kind\n" + "".join(f"{a:.4f},{b:.4f},{c:.4f},{'cat' if i % 3 else 'dog'}\n" for i, (a, b, c) in enumerate(rows)))
    return path

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    np.save(root / "arr.npy", np.random.default_rng(1).random((30, 1, 8, 8)).astype(np.float32))
    return {"folder": make_folder(root), "npy": root / "arr.npy", "csv": make_table(root / "table.csv")}

def run(*args) -> int: return main([str(a) for a in args])

def posterior_means(run_dir:Path, x:torch.Tensor) -> torch.Tensor:
    model = load(run_dir)
    with torch.no_grad(): return model.encode(x, mean=True)[1][0]

@pytest.mark.parametrize("kind", ["folder", "npy", "csv"])
def test_train_eval_sample_encode(kind, data, tmp_path, capsys):
    src, out = data[kind], tmp_path / "run"
    extra = ["--label-column", "kind"] if kind == "csv" else []
    assert run("train", "--data", src, "--epochs", 2, "--latent-dim", 2, "--hidden", 16, "--device", "cpu", "--out", out, *extra) == 0
    spec, _ = load_run(out)[1:]
    assert spec.source["path"] == str(src.resolve()) and spec.source["valid_fraction"] == 0.1 and spec.source["seed"] == 0
    capsys.readouterr()
    assert run("eval", out, "--k", 5, "--json", "--device", "cpu") == 0
    res = json.loads(capsys.readouterr().out)
    assert res["split"] == "valid" and res["n"] == {"folder": 2, "npy": 3, "csv": 4}[kind] and res["nll"] <= -res["elbo"] + 1e-3
    assert run("sample", out, "-n", 4, "--device", "cpu") == 0
    assert (out / f"samples-4-seed0.{'csv' if kind == 'csv' else 'png'}").stat().st_size > 0
    assert run("encode", out, "--data", src, "--out", tmp_path / "z.npy", "--device", "cpu") == 0
    z = torch.from_numpy(np.load(tmp_path / "z.npy"))
    # each row is the posterior mean of the example at that position of the input, read independently here
    if kind == "folder":
        files = sorted((src / "bars").iterdir()) + sorted((src / "dots").iterdir())
        x = torch.stack([decode_image(str(f), mode=ImageReadMode.GRAY).float() / 255 for f in files])
    elif kind == "npy": x = torch.from_numpy(np.load(src))
    else:
        table = torch.from_numpy(np.loadtxt(src, delimiter=",", skiprows=1, usecols=(0, 1, 2))).float()
        scaling = DataSource.from_dict(spec.source).scaling
        x = (table - torch.tensor(scaling.mean)) / torch.tensor(scaling.std)
        samples = np.loadtxt(out / "samples-4-seed0.csv", delimiter=",")
        assert samples.shape == (4, 3) and abs(samples[:, 2].mean() + 300) < 300   # back in the table's units, not standardised
    assert z.shape == (len(x), 2)
    torch.testing.assert_close(z, posterior_means(out, x), atol=1e-5, rtol=1e-4)

def test_split_uses_training_statistics_and_seed(data, tmp_path):
    assert run("train", "--data", data["csv"], "--label-column", "kind", "--valid-fraction", 0.25, "--seed", 3, "--epochs", 1, "--out", tmp_path / "r", "--device", "cpu") == 0
    spec = load_run(tmp_path / "r")[1]
    src = DataSource.from_dict(spec.source)
    train, valid = src.split()
    assert (len(train), len(valid), spec.source["n"]) == (30, 10, 40)
    torch.testing.assert_close(train.x.mean(0), torch.zeros(3), atol=1e-5, rtol=0)   # fitted on the training part only

def test_conditional_model_on_class_folders_and_hierarchical_levels(data, tmp_path):
    assert run("train", "--model", "cvae", "--data", data["folder"], "--epochs", 1, "--out", tmp_path / "c", "--device", "cpu") == 0
    spec = load_run(tmp_path / "c")[1]
    assert spec.n_classes == 2 and spec.source["classes"] == ["bars", "dots"]
    assert run("sample", tmp_path / "c", "-n", 4, "--label", 1, "--device", "cpu") == 0
    assert run("encode", tmp_path / "c", "--out", tmp_path / "c.npy", "--device", "cpu") == 0
    assert np.load(tmp_path / "c.npy").shape == (20, spec.latent_dim)
    assert run("train", "--model", "hvae", "--data", data["npy"], "--latent-dim", 4, "--hidden", 16, "--epochs", 1, "--out", tmp_path / "h", "--device", "cpu") == 0
    assert run("encode", tmp_path / "h", "--out", tmp_path / "h.npz", "--logvar", "--device", "cpu") == 0
    with np.load(tmp_path / "h.npz") as z: assert {k: z[k].shape for k in z.files} == {"mu_0": (30, 4), "logvar_0": (30, 4), "mu_1": (30, 2), "logvar_1": (30, 2)}
    assert run("encode", tmp_path / "h", "--level", 1, "--out", tmp_path / "new" / "top.npy", "--device", "cpu") == 0   # its folder is created
    assert np.load(tmp_path / "new" / "top.npy").shape == (30, 2)
    with np.load(tmp_path / "h.npz") as z: np.testing.assert_array_equal(z["mu_1"], np.load(tmp_path / "new" / "top.npy"))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]   # the .npz's part files are gone

def test_save_load_round_trip(data, tmp_path):
    assert run("train", "--data", data["npy"], "--epochs", 1, "--out", tmp_path / "r", "--device", "cpu") == 0
    model, spec, _ = load_run(tmp_path / "r")
    save(model, spec, tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "model.safetensors"]
    x = torch.from_numpy(np.load(data["npy"]))[:5]
    again = load(tmp_path / "model")
    with torch.no_grad(): torch.testing.assert_close(again.reconstruct(x), model.reconstruct(x), atol=0, rtol=0)
    assert again.training is False and load_run(tmp_path / "model")[1] == spec

def bad_files(d:Path, data) -> list[tuple[list, Path, str]]:
    "(extra train args, the file the message must name, a phrase of the message) for each kind of bad data."
    (d / "unreadable/a").mkdir(parents=True); (d / "unreadable/a/x.png").write_bytes(b"\x89PNG not really")
    write_png(torch.zeros(1, 8, 8, dtype=torch.uint8), str(d / "unreadable/a/ok.png"))
    (d / "mixed").mkdir(); write_png(torch.zeros(1, 8, 8, dtype=torch.uint8), str(d / "mixed/a.png")); write_png(torch.zeros(1, 9, 7, dtype=torch.uint8), str(d / "mixed/b.png"))
    (d / "words.csv").write_text("a,b\n1,x\n2,y\n"); (d / "nan.csv").write_text("a,b\n1,2\n3,NaN\n4,5\n")
    np.save(d / "renamed.npy", np.zeros((4, 3))); os.replace(d / "renamed.npy", d / "renamed.npz")
    np.savez(d / "cut.npz", x=np.zeros((50, 3))); (d / "cut.npz").write_bytes((d / "cut.npz").read_bytes()[:-60])
    np.save(d / "flat.npy", np.zeros(10)); (d / "noise.npy").write_bytes(np.random.default_rng(0).bytes(500))
    (d / "small.csv").write_text("1,2\n3,4\n5,6\n")
    np.savez(d / "bmnist.npz", train=np.full((3, 784), 0.5), valid=np.zeros((3, 784)))
    return [(["--data", d / "unreadable"], d / "unreadable/a/x.png", "is not a readable image"),
            (["--data", d / "mixed"], d / "mixed/b.png", "give an image size (--image-size)"),
            (["--data", d / "words.csv"], d / "words.csv", "not a number"),
            (["--data", d / "nan.csv"], d / "nan.csv", "holds 'NaN'"),
            (["--data", d / "renamed.npz"], d / "renamed.npz", "holds a .npy array"),
            (["--data", d / "cut.npz"], d / "cut.npz", "damaged or truncated"),
            (["--data", d / "flat.npy"], d / "flat.npy", "got an array of shape (10,)"),
            (["--data", d / "noise.npy"], d / "noise.npy", "is not a NumPy .npy or .npz file"),
            (["--data", d / "small.csv"], d / "small.csv", "leaves the valid split empty"),
            (["--data", "binarized-mnist", "--root", d / "bmnist.npz"], d / "bmnist.npz", "row 0 of the train split holds 0.5; binarized MNIST must hold 0/1 values"),
            (["--data", d / "words.csv", "--image-size", 8], "words.csv", "--image-size and --channels apply to a folder of images")]

def test_bad_files_exit_2_one_line_naming_the_file(data, tmp_path, capsys):
    for args, named, phrase in bad_files(tmp_path, data):
        out = tmp_path / "out"
        assert run("train", *args, "--epochs", 1, "--out", out, "--device", "cpu") == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and str(named) in err and phrase in err, (args, err)
        assert "Traceback" not in err and "allow_pickle" not in err
        assert not out.exists(), args

def test_bad_file_in_a_subprocess_no_traceback(tmp_path):
    (tmp_path / "nan.csv").write_text("a,b\n1,2\n3,\n")
    r = subprocess.run([sys.executable, "-m", "vae_nb", "train", "--data", "nan.csv", "--out", "r"], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"vae_nb train: error: {tmp_path}/nan.csv, line 3, column 'b' is empty; fill in or drop rows with missing values"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.csv"]

def test_encode_refuses_data_of_another_shape(data, tmp_path, capsys):
    assert run("train", "--data", data["npy"], "--epochs", 1, "--out", tmp_path / "r", "--device", "cpu") == 0
    np.save(tmp_path / "big.npy", np.zeros((3, 1, 9, 9), np.float32))
    capsys.readouterr()
    assert run("encode", tmp_path / "r", "--data", tmp_path / "big.npy", "--out", tmp_path / "z.npy") == 2
    assert "examples of shape (1, 9, 9), but the model of" in capsys.readouterr().err and not (tmp_path / "z.npy").exists()
    assert run("encode", tmp_path / "r", "--out", tmp_path / "z.npy", "--logvar") == 2
    assert "give an --out ending in .npz" in capsys.readouterr().err

def test_tensorboard_logs_without_changing_training(data, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    args = ["train", "--data", data["folder"], "--epochs", 2, "--device", "cpu"]
    assert run(*args, "--out", tmp_path / "tb", "--tensorboard") == 0 and run(*args, "--out", tmp_path / "plain") == 0
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard")).Reload()
    assert {"loss/train", "loss/valid", "kl/valid"} <= set(events.Tags()["scalars"]) and len(events.Scalars("loss/train")) == 2
    assert {"reconstructions", "samples"} <= set(events.Tags()["images"])
    a, b = load(tmp_path / "tb"), load(tmp_path / "plain")
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))   # watching changes nothing

def test_tensorboard_missing_is_one_line(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # as if the package were not installed
    assert run("train", "--data", data["npy"], "--epochs", 1, "--out", tmp_path / "r", "--tensorboard") == 2
    assert capsys.readouterr().err.strip() == "vae_nb train: error: --tensorboard needs the tensorboard package (pip install tensorboard)"
    assert not (tmp_path / "r").exists()

from hypothesis import given, settings, strategies as st, HealthCheck
from vae_nb.data import DataFileError
from vae_nb.user_data import read_data

def _valid_files(d:Path) -> dict[str, bytes]:
    "The bytes of one small valid file of each kind."
    np.save(d / "a.npy", np.random.default_rng(0).random((6, 4))); np.savez(d / "a.npz", x=np.zeros((6, 4)), y=np.arange(6))
    write_png(torch.full((1, 5, 5), 7, dtype=torch.uint8), str(d / "a.png"))
    return {".npy": (d / "a.npy").read_bytes(), ".npz": (d / "a.npz").read_bytes(), ".png": (d / "a.png").read_bytes(), ".csv": b"a,b\n1,2\n3,4\n5,6\n"}

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from([".npy", ".npz", ".png", ".csv"]), cut=st.floats(0, 1), junk=st.binary(max_size=24), at=st.floats(0, 1))
def test_corrupted_files_give_one_line_data_errors(tmp_path, kind, cut, junk, at):
    "Truncated or overwritten files of every kind are read, or refused with a one-line `DataFileError` naming the file; nothing else."
    blob = _valid_files(tmp_path)[kind]
    blob = blob[:int(len(blob) * cut)]
    i = int(len(blob) * at); blob = blob[:i] + junk + blob[i + len(junk):]
    target = tmp_path / "folder" if kind == ".png" else tmp_path / f"data{kind}"
    if kind == ".png": target.mkdir(exist_ok=True); (target / "x.png").write_bytes(blob)
    else: target.write_bytes(blob)
    try: read_data(target)
    except DataFileError as e:
        assert str(target) in str(e) and "\n" not in str(e) and "allow_pickle" not in str(e), str(e)

def test_a_null_byte_in_an_npy_header_is_a_data_error(tmp_path):
    "numpy's header parser raises SyntaxError on a null byte; the reader still names the file in a `DataFileError`."
    blob = bytearray(_valid_files(tmp_path)[".npy"]); blob[blob.index(b"(6, 4)") + 5] = 0
    (tmp_path / "data.npy").write_bytes(bytes(blob))
    with pytest.raises(DataFileError, match="data.npy is damaged or truncated"): read_data(tmp_path / "data.npy")
