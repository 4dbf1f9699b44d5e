"The command line on data: a changed source is refused, labels and defaults keep their meaning, bad data is one line."
import gzip, json
from pathlib import Path
import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from vae_nb.checkpoint import _digest
from vae_nb.data import load_digits_data
from vae_nb.runs import load
from cli_helpers import run_main, one_line_error

torch.set_num_threads(1)
TINY = ("--hidden", 8, "--latent-dim", 2, "--device", "cpu")

def refused(*args) -> str:
    "The one line a refused command printed (exit status 2, nothing else on stderr)."
    code, _, err = run_main(*args)
    return one_line_error(code, err)

def trained(*args) -> None:
    code, _, err = run_main("train", "--epochs", 1, *TINY, *args)
    assert code == 0, err

def source(run:Path) -> dict: return json.loads((run / "checkpoint.json").read_text())["config"]["run"]["source"]

def test_a_changed_source_is_refused_and_older_runs_still_load(tmp_path):
    rows = [f"{i * 0.37 % 1:.3f},{i * 0.91 % 1:.3f},{i % 5}\n" for i in range(40)]
    data, run = tmp_path / "t.csv", tmp_path / "run"
    data.write_text("".join(rows))
    trained("--data", data, "--out", run)
    assert run_main("eval", run, "--k", 2)[0] == 0
    data.write_text("".join(rows[::-1]))   # the same rows in another order: the same count, another split
    for args in (("eval", run, "--k", 2), ("encode", run, "--out", tmp_path / "z.npy"),
                 ("train", "--resume", "--epochs", 2, "--device", "cpu", "--out", run)):
        assert f"{data} changed since the run was trained" in refused(*args)
    assert not (tmp_path / "z.npy").exists()
    # a run recorded before digests were: its digest is unknown, not a mismatch
    path = run / "checkpoint.safetensors"
    with safe_open(path, "pt") as f: meta = json.loads(f.metadata()["vae_nb"])
    del meta["config"]["run"]["source"]["digest"]
    tensors = load_file(path); meta["sha256"] = _digest(meta, tensors)
    save_file(tensors, path, metadata={"vae_nb": json.dumps(meta)})
    assert run_main("eval", run, "--k", 2)[0] == 0

def test_encode_keeps_the_labels_of_a_named_data_set(tmp_path):
    run, (x, y) = tmp_path / "cvae", load_digits_data("test").tensors
    trained("--model", "cvae", "--out", run)
    np.savez(tmp_path / "sevens.npz", x=x[y == 7].numpy(), y=y[y == 7].numpy())   # one class: not renumbered to 0
    code, _, err = run_main("encode", run, "--data", tmp_path / "sevens.npz", "--out", tmp_path / "z.npy")
    assert code == 0, err
    with torch.no_grad(): mu = load(run).level_posteriors(x[y == 7], y[y == 7])[0][0]
    torch.testing.assert_close(torch.from_numpy(np.load(tmp_path / "z.npy")), mu, atol=1e-5, rtol=0)
    np.savez(tmp_path / "bad.npz", x=x[:4].numpy(), y=np.array([0, 3, 12, 3]))
    assert "a conditional model needs a label in 0..9" in refused("encode", run, "--data", tmp_path / "bad.npz",
                                                                   "--out", tmp_path / "b.npy")

def test_your_file_named_digits_gets_the_default_epochs_of_your_data(tmp_path):
    np.save(tmp_path / "digits.npy", (load_digits_data("test").tensors[0][:40] * 255).to(torch.uint8).numpy())
    code, _, err = run_main("train", "--data", tmp_path / "digits.npy", *TINY, "--batch-size", 64, "--out",
                            tmp_path / "run")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["config"]["epochs"] == 10

def test_a_headerless_table_with_word_labels_keeps_its_first_row(tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("".join(f"{i / 20:.3f},{i * 7 % 20 / 20:.3f},{'cat' if i % 2 else 'dog'}\n" for i in range(20)))
    trained("--data", data, "--label-column", 2, "--model", "cvae", "--out", tmp_path / "run")
    assert (source(tmp_path / "run")["n"], source(tmp_path / "run")["classes"]) == (20, ["cat", "dog"])

def test_an_incomplete_or_damaged_cifar10_is_one_line(tmp_path):
    (tmp_path / "a" / "cifar-10-batches-py").mkdir(parents=True)   # an interrupted unpack
    (tmp_path / "b").mkdir(); (tmp_path / "b" / "cifar-10-python.tar.gz").write_bytes(gzip.compress(b"junk" * 99))
    for root, what in (("a", "cifar-10-batches-py is incomplete or damaged"),
                       ("b", "cifar-10-python.tar.gz is damaged or incomplete")):
        line = refused("train", "--data", "cifar10", "--root", tmp_path / root, "--no-download", "--epochs", 1,
                       "--out", tmp_path / "out")
        assert f"{tmp_path / root}/{what}" in line and "run again to download" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]

def test_conv_on_one_pixel_images_is_refused(tmp_path):
    np.save(tmp_path / "one.npy", np.random.default_rng(0).integers(0, 256, (50, 1, 1, 1)).astype(np.uint8))
    line = refused("train", "--data", tmp_path / "one.npy", "--model", "conv", "--epochs", 1, "--out", tmp_path / "r")
    assert f"--model conv needs images of at least 2x2 pixels, but --data {tmp_path / 'one.npy'} has 1x1" in line

def test_encode_data_of_another_kind_gets_the_options_that_apply(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(10): Image.fromarray(rng.integers(0, 256, (12, 12), np.uint8)).save(tmp_path / f"imgs/{c}/{i}.png")
    trained("--data", tmp_path / "imgs", "--image-size", 8, "--out", tmp_path / "run")
    np.save(tmp_path / "new.npy", rng.integers(0, 256, (5, 1, 8, 8)).astype(np.uint8))   # no image size applies
    code, _, err = run_main("encode", tmp_path / "run", "--data", tmp_path / "new.npy", "--out", tmp_path / "z.npy")
    assert code == 0 and np.load(tmp_path / "z.npy").shape == (5, 2), err
    # a table of the wrong width: the flag and the file are named
    (tmp_path / "t.csv").write_text("a,b,c,kind\n" + "".join(f"{i},{i % 3},{i * i % 7},{i % 2}\n" for i in range(20)))
    trained("--data", tmp_path / "t.csv", "--label-column", "kind", "--out", tmp_path / "trun")
    np.save(tmp_path / "narrow.npy", np.zeros((4, 2), np.float32))
    line = refused("encode", tmp_path / "trun", "--data", tmp_path / "narrow.npy", "--out", tmp_path / "y.npy")
    assert f"--data {tmp_path / 'narrow.npy'} holds examples of 2 features, but the run's data" in line

def test_eval_and_encode_refuse_location_flags_their_data_does_not_take(tmp_path):
    "As train refuses them: --root for your own data, --cache-dir and --no-cache for anything but a folder of images."
    named, table = tmp_path / "named", tmp_path / "t.csv"
    table.write_text("".join(f"{i * 0.37 % 1:.3f},{i * 0.91 % 1:.3f}\n" for i in range(30)))
    trained("--out", named); trained("--data", table, "--out", tmp_path / "own")
    z = tmp_path / "z.npy"
    cases = {("eval", named, "--k", 2, "--no-cache"): "--no-cache applies to your own --data (a folder or file), not to"
             " the data set 'digits'",
             ("eval", named, "--k", 2, "--cache-dir", tmp_path / "c"): "--cache-dir applies to your own --data",
             ("encode", named, "--out", z, "--no-cache"): "--no-cache applies to your own --data",
             ("eval", tmp_path / "own", "--k", 2, "--root", tmp_path): f"--root applies to named data sets, not to the"
             f" run's data {table}",
             ("eval", tmp_path / "own", "--k", 2, "--no-cache"): f"--cache-dir and --no-cache apply to a folder of images,"
             f" not to the run's data {table}",
             ("encode", tmp_path / "own", "--out", z, "--root", tmp_path): "--root applies to named data sets",
             ("encode", named, "--data", table, "--out", z, "--root", tmp_path): f"--root applies to named data sets,"
             f" not to --data {table}",
             ("encode", named, "--data", table, "--out", z, "--cache-dir", tmp_path / "c"): "apply to a folder of images"}
    for args, message in cases.items(): assert message in refused(*args), args
    assert not z.exists() and not (tmp_path / "c").exists()
    code, _, err = run_main("encode", named, "--out", z, "--root", tmp_path)   # a named data set takes --root
    assert code == 0 and z.exists(), err

def test_resume_accepts_restated_data_options_and_refuses_different_ones(tmp_path):
    table, run = tmp_path / "t.csv", tmp_path / "run"
    table.write_text("a,b,kind\n" + "".join(f"{i * 0.37 % 1:.3f},{i * 0.91 % 1:.3f},{i % 2}\n" for i in range(40)))
    trained("--data", table, "--label-column", "kind", "--out", run)
    resume = ("train", "--resume", "--out", run, "--device", "cpu")
    code, _, err = run_main(*resume, "--epochs", 2, "--label-column", "kind", "--valid-fraction", 0.1)   # as recorded
    assert code == 0, err
    assert (f"holds a run with --label-column kind, got --label-column a; drop the flag"
            in refused(*resume, "--epochs", 3, "--label-column", "a"))
    assert "with --valid-fraction 0.1, got --valid-fraction 0.2" in refused(*resume, "--epochs", 3, "--valid-fraction", 0.2)
    assert "holds a run without --image-size, got --image-size 8" in refused(*resume, "--epochs", 3, "--image-size", 8)
    trained("--out", tmp_path / "named")
    line = refused("train", "--resume", "--out", tmp_path / "named", "--epochs", 2, "--label-column", "kind")
    assert "--label-column applies to your own --data (a folder or file), not to the data set 'digits'" in line

def test_an_unreadable_folder_is_one_line(tmp_path, monkeypatch):
    "A folder that cannot be listed (as a user without permission, which root cannot show) is named in one line."
    import os
    folder, scandir = tmp_path / "imgs", os.scandir
    (folder / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "a" / "0.png")
    for denied in (folder, folder / "a"):
        def refuse(p=".", denied=denied):
            if Path(p) == denied: raise PermissionError(13, "Permission denied", str(p))
            return scandir(p)
        monkeypatch.setattr(os, "scandir", refuse)
        line = refused("train", "--data", folder, "--no-cache", "--epochs", 1, "--out", tmp_path / "run")
        assert f"{denied} cannot be read (Permission denied)" in line, line
    assert not (tmp_path / "run").exists()
