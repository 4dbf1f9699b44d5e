"""Crafted run folders and concurrent writers (issue 25): a crafted checkpoint can never crash the process or silently change
a resumed run, and two commands can never write one run folder. Each refusal is exit status 2 and one line."""
import contextlib, io, json, math, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from vae_nb.cli import main
from cli_helpers import run_main, one_line_error

torch.set_num_threads(1)
TINY = ("--hidden", 16, "--latent-dim", 2, "--device", "cpu", "--batch-size", 512)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}



def run_cli(*args, timeout=120) -> subprocess.CompletedProcess:
    "`python -m vae_nb args` in a subprocess: a crash (a signal) shows as a negative return code."
    return subprocess.run([sys.executable, "-m", "vae_nb", *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=timeout)

def rewrite(folder:Path, edit_meta=None, edit_tensors=None) -> None:
    "Rewrite the run's checkpoint with edited metadata and/or tensors (keeping the digest it records)."
    path = folder / "checkpoint.safetensors"
    with safe_open(path, "pt") as f: meta = json.loads(f.metadata()["vae_nb"])
    tensors = load_file(path)
    if edit_meta: meta = edit_meta(meta)
    if edit_tensors: edit_tensors(tensors)
    save_file(tensors, path, metadata={"vae_nb": json.dumps(meta)})

def weights(folder:Path) -> dict:
    return {k: v for k, v in load_file(folder / "checkpoint.safetensors").items() if k.startswith(("model/", "optim/"))}

@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    "A tiny vae run after 1 epoch (3 steps) and the same run trained straight through 2 epochs."
    root = tmp_path_factory.mktemp("crafted")
    for name, epochs in (("one", 1), ("two", 2)):
        code, _, err = run_main("train", "--epochs", epochs, *TINY, "--out", root / name)
        assert code == 0, err
    return root / "one", root / "two"

def resume(run:Path):
    return run_main("train", "--resume", "--epochs", 2, "--device", "cpu", "--out", run)

def test_resume_is_exact(runs, tmp_path):
    one, two = runs
    run = shutil.copytree(one, tmp_path / "run")
    code, _, err = resume(run)
    assert code == 0, err
    a, b = weights(run), weights(two)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

# finding 1: an optimizer state of the wrong shape crashed the fused Adam (a segmentation fault)
@pytest.mark.parametrize("numel", [1, 3])
def test_optimizer_state_of_wrong_shape_refused_in_a_subprocess(runs, tmp_path, numel):
    run = shutil.copytree(runs[0], tmp_path / "run")
    def shrink(t):
        key = next(k for k in sorted(t) if k.endswith("/exp_avg") and t[k].numel() > numel)
        t[key] = torch.zeros(numel)
    rewrite(run, edit_tensors=shrink)
    before = (run / "checkpoint.safetensors").read_bytes()
    r = run_cli("train", "--resume", "--epochs", 3, "--device", "cpu", "--out", run)
    line = one_line_error(r.returncode, r.stderr)
    assert "optimizer state" in line and f"is [{numel}] float32, its parameter" in line, line
    assert (run / "checkpoint.safetensors").read_bytes() == before

# finding 2: resume metadata
@pytest.mark.parametrize("key,value", [("epoch", "x"), ("step", -100), ("batch", 10**9), ("history", "str"),
                                       ("epoch", -5), ("epoch", 10**6), ("data_seed", "x"), ("rng", None),
                                       ("optimizers", None), ("sums", {"loss": "x"}), ("step", 2)])
def test_resume_metadata_refused(runs, tmp_path, key, value):
    run = shutil.copytree(runs[0], tmp_path / "run")
    rewrite(run, lambda m: {k: v for k, v in m.items() if k != key} if value is None else {**m, key: value})
    line = one_line_error(*resume(run)[::2])
    assert "--resume" in line and str(run) in line, line

# found by the property test below: an optimizer setting of the wrong kind reached Adam's step as a traceback
@pytest.mark.parametrize("path,value", [("optimizers.0.param_groups.0.betas", [{"epoch": 1}]),
                                        ("optimizers.0.param_groups.0.betas", [0.9]),
                                        ("optimizers.0.param_groups.0.lr", "x")])
def test_optimizer_settings_of_the_wrong_kind_refused(runs, tmp_path, path, value):
    run = shutil.copytree(runs[0], tmp_path / "run")
    rewrite(run, lambda m: corrupt_meta({k: v for k, v in m.items() if k != "sha256"}, path, value))   # no digest to catch it
    line = one_line_error(*resume(run)[::2])
    assert "optimizer setting" in line, line

def test_missing_optimizer_state_refused(runs, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")
    rewrite(run, edit_tensors=lambda t: [t.pop(k) for k in list(t) if k.startswith("optim/")])
    assert "optimizer state" in one_line_error(*resume(run)[::2])

META_VALUES = st.sampled_from([None, -1, -100, 0, 1, 2, 7, 1.5, 1e9, 10**6, 2**70, "x", True, [], {}, [1], {"loss": "x"},
                               {"loss": float("nan")}, [{"epoch": 1}], "DELETE"])
META_KEYS = st.sampled_from(["step", "epoch", "batch", "seen", "data_seed", "sums", "history", "step_history",
                             "optimizers", "rng", "trainer", "sha256", "rng.python", "rng.numpy", "rng.python.1",
                             "rng.numpy.1", "rng.numpy.0", "optimizers.0.param_groups", "optimizers.0.state",
                             "optimizers.0.class", "optimizers.0.param_groups.0.lr", "optimizers.0.param_groups.0.betas"])
TENSOR_EDITS = st.sampled_from(["one", "three", "float64", "int64", "uint8", "nan", "inf", "negative", "huge", "permute",
                                "delete", "scalar"])

def corrupt_meta(meta:dict, path:str, value):
    *parents, last = path.split(".")
    node = meta
    for p in parents:
        if isinstance(node, list) and int(p) < len(node): node = node[int(p)]
        elif isinstance(node, dict) and p in node: node = node[p]
        else: return meta   # an earlier edit removed the path
    if not isinstance(node, (list, dict)): return meta
    key = int(last) if isinstance(node, list) else last
    if isinstance(node, list) and key >= len(node): return meta
    if value == "DELETE":
        if isinstance(node, list): node.pop(key)
        else: node.pop(key, None)
    else: node[key] = value
    return meta

def corrupt_tensor(t:dict, key:str, how:str):
    v = t[key]
    if how == "delete": t.pop(key)
    elif how == "one": t[key] = torch.zeros(1, dtype=v.dtype)
    elif how == "three": t[key] = torch.zeros(3, dtype=v.dtype)
    elif how == "scalar": t[key] = torch.tensor(1.0)
    elif how in ("float64", "int64", "uint8"): t[key] = v.to(getattr(torch, how))
    elif v.numel() == 0: return
    elif how == "permute": t[key] = v.reshape(-1)[torch.randperm(v.numel(), generator=torch.Generator().manual_seed(0))].reshape(v.shape)
    elif not v.is_floating_point(): t[key] = v.clone().reshape(-1).roll(1).reshape(v.shape)
    else:
        v = v.clone(); v.reshape(-1)[0] = {"nan": math.nan, "inf": math.inf, "negative": -1.0, "huge": 1e30}[how]
        t[key] = v

@settings(max_examples=int(os.environ.get("CRAFTED_EXAMPLES", 25)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.one_of(st.tuples(st.just("meta"), META_KEYS, META_VALUES),
                                st.tuples(st.just("tensor"), st.integers(0, 10**6), TENSOR_EDITS)), min_size=1, max_size=3))
def test_corrupted_resume_state_continues_exactly_or_is_refused(runs, edits):
    "Any corruption of the resume state: exit 0 with the run of an uninterrupted training, or exit 2 with one line."
    one, two = runs
    with tempfile.TemporaryDirectory() as d:
        run = shutil.copytree(one, Path(d) / "run")
        def edit_meta(m):
            for kind, key, value in edits:
                if kind == "meta": m = corrupt_meta(m, key, value)
            return m
        def edit_tensors(t):
            keys = sorted(k for k in t if not k.startswith("model/"))
            for kind, i, how in edits:
                if kind == "tensor" and keys:
                    k = keys[i % len(keys)]
                    if k in t: corrupt_tensor(t, k, how)
        rewrite(run, edit_meta, edit_tensors)
        code, _, err = resume(run)
        if code == 0:
            a, b = weights(run), weights(two)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), edits
        else: one_line_error(code, err)

# finding 3: bounded parsing
@pytest.mark.parametrize("where", ["metadata", "header"])
def test_deeply_nested_json_refused(runs, tmp_path, where):
    run = shutil.copytree(runs[0], tmp_path / "run")
    path = run / "checkpoint.safetensors"
    deep = "[" * 100_000 + "]" * 100_000
    if where == "metadata": save_file(load_file(path), path, metadata={"vae_nb": deep})
    else:   # in the safetensors header itself, around the metadata
        data = path.read_bytes(); n = int.from_bytes(data[:8], "little")
        text = (b'{"deep": ' + deep.encode() + b", " + data[9:8 + n])
        path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + n:])
    for args in (("eval", run), ("sample", run, "-n", 4), ("encode", run, "--out", tmp_path / "z.npy")):
        assert "nested more than" in one_line_error(*run_main(*args, "--device", "cpu")[::2])

def test_sparse_tail_refused_before_reading(runs, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")
    with open(run / "checkpoint.safetensors", "r+b") as f: f.truncate(6 * 2**30)   # 6 GB, sparse
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    line = one_line_error(*run_main("eval", run, "--device", "cpu")[::2])
    assert "the file holds" in line, line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000   # KiB: nothing was read

# finding 11: two writers on one --out
def test_two_writers_one_out_exactly_one_runs(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "vae_nb", "train", "--epochs", 2, *TINY, "--out", out]
    procs = [subprocess.Popen([*map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    err = next(r[2] for r in results if r[0] == 2)
    line = one_line_error(2, err)
    assert "in use" in line and str(next(p.pid for p, r in zip(procs, results) if r[0] == 0)) in line, line

def test_resume_while_another_writes_refused(runs, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from vae_nb.commands import lock_run;"
                               f" lock = lock_run(__import__('pathlib').Path({str(run)!r}), '--out');"
                               " print('locked', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = one_line_error(*resume(run)[::2])
        assert "in use" in line and str(holder.pid) in line, line
    finally: holder.kill(); holder.wait()
    assert resume(run)[0] == 0   # the lock goes with its holder

# finding 12: a planted link under the temporary file's name
def test_planted_link_does_not_redirect_a_write(runs, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")
    victim = tmp_path / "victim.txt"; victim.write_text("precious")
    for name in ("history.csv", "checkpoint.safetensors", "checkpoint.json"):
        (run / f".{name}.{os.getpid()}.tmp").symlink_to(victim)
    assert resume(run)[0] == 0
    assert victim.read_text() == "precious"
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]

# finding 13: a kill during the very first checkpoint write
def test_folder_of_dead_temp_files_is_an_empty_run(tmp_path):
    out = tmp_path / "run"; out.mkdir()
    ended = subprocess.Popen([sys.executable, "-c", "pass"]); ended.wait()
    (out / f".checkpoint.safetensors.{ended.pid}.tmp").write_bytes(b"half a checkpoint")
    code, _, err = run_main("train", "--epochs", 1, *TINY, "--out", out)
    assert code == 0, err
    assert (out / "checkpoint.safetensors").is_file() and not list(out.glob(".*.tmp"))

def test_resume_of_dead_temp_files_says_there_is_no_run(tmp_path):
    out = tmp_path / "run"; out.mkdir()
    ended = subprocess.Popen([sys.executable, "-c", "pass"]); ended.wait()
    (out / f".checkpoint.safetensors.{ended.pid}.tmp").write_bytes(b"half a checkpoint")
    line = one_line_error(*run_main("train", "--resume", "--out", out, "--device", "cpu")[::2])
    assert "no run to continue" in line and "train it without --resume" in line, line

@settings(max_examples=int(os.environ.get("CRAFTED_EXAMPLES", 25)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.one_of(st.tuples(st.just("meta"), META_KEYS, META_VALUES),
                                st.tuples(st.just("tensor"), st.integers(0, 10**6), TENSOR_EDITS)), min_size=1, max_size=3))
def test_corrupted_resume_state_without_digest_never_crashes(runs, edits):
    "Without the digest (a file crafted with care): every check still holds; exit 0 or one line, never a traceback."
    with tempfile.TemporaryDirectory() as d:
        run = shutil.copytree(runs[0], Path(d) / "run")
        def edit_meta(m):
            for kind, key, value in edits:
                if kind == "meta": m = corrupt_meta(m, key, value)
            m.pop("sha256", None) if isinstance(m, dict) else None
            return m
        def edit_tensors(t):
            keys = sorted(k for k in t if not k.startswith("model/"))
            for kind, i, how in edits:
                if kind == "tensor" and keys and keys[i % len(keys)] in t: corrupt_tensor(t, keys[i % len(keys)], how)
        rewrite(run, edit_meta, edit_tensors)
        r = run_cli("train", "--resume", "--epochs", 2, "--device", "cpu", "--out", run) if any(
            kind == "tensor" and how in ("one", "three") for kind, _, how in edits) else None
        code, err = (r.returncode, r.stderr) if r else resume(run)[::2]
        if code != 0: one_line_error(code, err, status=1 if "diverged" in err else 2)   # crafted values may diverge

# finding 4: a run's crafted `source` drives no allocation
def image_folder(root:Path, n:int=12, bits:int=8, seed:int=0) -> Path:
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n // 2):
            px = rng.integers(0, 256, (8, 8))
            arr = (px * 257).astype(np.uint16) if bits == 16 else px.astype(np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    return root

@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    code, _, err = run_main("train", "--data", image_folder(root / "imgs"), "--image-size", 8, "--epochs", 1, *TINY,
                            "--out", root / "run")
    assert code == 0, err
    return root / "run"

@pytest.mark.parametrize("field,value", [("image_size", 100000), ("channels", 3)])
def test_crafted_source_sizes_refused(folder_run, tmp_path, field, value):
    run = shutil.copytree(folder_run, tmp_path / "run")
    def edit(m): m["config"]["run"]["source"][field] = value; return m
    rewrite(run, edit)
    for args in (("eval", run), ("encode", run, "--out", tmp_path / "z.npy")):
        line = one_line_error(*run_main(*args, "--device", "cpu")[::2])
        assert "run field `source`" in line and field in line, line

# finding 6: links in image folders are not followed out of the folder, and loops end
def test_symlink_loops_in_an_image_folder(tmp_path):
    root = image_folder(tmp_path / "imgs")
    (root / "a" / "up1").symlink_to(".."); (root / "a" / "up2").symlink_to("..")
    (root / "b" / "out").symlink_to(tmp_path)
    r = run_cli("train", "--data", root, "--epochs", 1, *TINY, "--out", tmp_path / "run", timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["config"]["run"]["source"]["n"] == 12

# finding 7: 16-bit PNGs are scaled, not clipped
def test_16_bit_pngs_read_as_their_8_bit_twins(tmp_path):
    from vae_nb.user_data import read_image_folder
    a, b = read_image_folder(image_folder(tmp_path / "8", bits=8)), read_image_folder(image_folder(tmp_path / "16", bits=16))
    assert a.x.shape == b.x.shape and (a.x - b.x).abs().max() < 1e-6

# finding 9: --overwrite replaces a run only once the new one has a checkpoint; outputs are checked first
def test_overwrite_that_diverges_keeps_the_old_run(runs, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = run_main("train", "--overwrite", "--lr", 1e10, "--epochs", 1, *TINY, "--out", run)
    one_line_error(code, err, status=1)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before

@pytest.mark.parametrize("name", ["history.csv", "samples.png", "checkpoint.safetensors"])
def test_output_that_is_a_folder_refused_up_front(tmp_path, name):
    out = tmp_path / "run"; (out / name).mkdir(parents=True)
    line = one_line_error(*run_main("train", "--epochs", 1, "--overwrite", *TINY, "--out", out)[::2])
    assert name in line and "is a folder" in line, line

# finding 10: a full disk is one line naming the file; the last checkpoint stays loadable
def test_full_disk_one_line(runs, tmp_path, monkeypatch):
    import vae_nb.checkpoint as ck
    run = shutil.copytree(runs[0], tmp_path / "run")
    def full(fd): raise OSError(28, "No space left on device")
    monkeypatch.setattr(ck.os, "fsync", full)
    for args in (("encode", run, "--out", tmp_path / "z.npy"), ("encode", run, "--out", tmp_path / "z.npz"),
                 ("sample", run, "-n", 4, "--out", tmp_path / "s.npy"), ("train", "--resume", "--epochs", 2, "--out", run)):
        line = one_line_error(*run_main(*args, "--device", "cpu")[::2])
        assert "no space left to write" in line and "bytes free" in line, line
    monkeypatch.undo()
    assert run_main("eval", run, "--device", "cpu")[0] == 0

# finding 14: sample writes what --out's suffix says, or refuses
def test_sample_suffix(runs, tmp_path):
    for name in ("x.jpg", "x"):
        assert ".png grid or a .npy array" in one_line_error(*run_main("sample", runs[0], "-n", 4, "--out", tmp_path / name)[::2])
    code, _, err = run_main("sample", runs[0], "-n", 4, "--device", "cpu", "--out", tmp_path / "x.npy")
    assert code == 0, err
    assert np.load(tmp_path / "x.npy", allow_pickle=False).shape == (4, 1, 8, 8)

# finding 15: encode refuses non-finite latents as eval does
def test_encode_refuses_overflowing_latents(runs, tmp_path):
    run = shutil.copytree(runs[0], tmp_path / "run")
    rewrite(run, lambda m: {k: v for k, v in m.items() if k != "sha256"},   # no digest to catch it
            edit_tensors=lambda t: [v.mul_(1e30) for k, v in t.items() if k.startswith("model/") and v.is_floating_point()])
    line = one_line_error(*run_main("encode", run, "--device", "cpu", "--out", tmp_path / "z.npy")[::2])
    assert "NaN or infinite" in line and "nothing was written" in line, line
    assert not (tmp_path / "z.npy").exists()

# finding 5: sizes that cannot fit are refused before anything is allocated
@pytest.mark.parametrize("args", [("--hidden", 10**9), ("--latent-dim", 10**9), ("--hidden", 60000)])
def test_sizes_past_memory_refused(tmp_path, args):
    line = one_line_error(*run_main("train", *args, "--epochs", 1, "--device", "cpu", "--out", tmp_path / "run")[::2])
    assert args[0] in line and "of memory here" in line, line
    assert not (tmp_path / "run").exists()

def test_image_size_past_memory_refused(tmp_path):
    root = image_folder(tmp_path / "imgs")
    line = one_line_error(*run_main("train", "--data", root, "--image-size", 100000, "--epochs", 1, "--device", "cpu",
                                    "--out", tmp_path / "run")[::2])
    assert "--image-size 100000" in line and "of memory here" in line, line

# finding 8: MNIST is read from its raw files by vae_nb's reader, never torchvision's pickled cache
def fake_mnist(root:Path) -> Path:
    from vae_nb.data import write_idx
    raw = root / "MNIST" / "raw"; raw.mkdir(parents=True, exist_ok=True)
    for prefix, m in (("train", 20), ("t10k", 10)):
        write_idx(torch.randint(0, 256, (m, 28, 28), dtype=torch.uint8), raw / f"{prefix}-images-idx3-ubyte")
        write_idx(torch.randint(0, 10, (m,), dtype=torch.uint8), raw / f"{prefix}-labels-idx1-ubyte")
    return raw

def test_mnist_never_reads_the_pt_cache(tmp_path):
    raw = fake_mnist(tmp_path)
    processed = tmp_path / "MNIST" / "processed"; processed.mkdir()
    fake = (torch.zeros(200, 28, 28, dtype=torch.uint8), torch.zeros(200, dtype=torch.long))
    for name in ("training.pt", "test.pt"): torch.save(fake, processed / name)
    from vae_nb.data import load_mnist
    assert len(load_mnist(tmp_path, "train", download=False)) == 20
    (raw / "train-images-idx3-ubyte").write_bytes(b"")
    line = one_line_error(*run_main("train", "--data", "mnist", "--root", tmp_path, "--no-download", "--epochs", 1,
                                    *TINY, "--out", tmp_path / "run")[::2])
    assert "train-images-idx3-ubyte" in line, line

@pytest.mark.parametrize("damage", ["gz", "truncated"])
def test_damaged_mnist_files_one_line(tmp_path, damage):
    raw = fake_mnist(tmp_path)
    if damage == "gz":
        (raw / "train-images-idx3-ubyte").unlink(); (raw / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    else:
        data = (raw / "train-images-idx3-ubyte").read_bytes(); (raw / "train-images-idx3-ubyte").write_bytes(data[:-7])
    line = one_line_error(*run_main("train", "--data", "mnist", "--root", tmp_path, "--no-download", "--epochs", 1,
                                    *TINY, "--out", tmp_path / "run")[::2])
    assert "train-images-idx3-ubyte" in line, line

# finding 16: messages
def test_csv_cell_beyond_float32_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(40, 3)).round(3).astype(object); rows[5, 1] = "1e39"
    (tmp_path / "t.csv").write_text("\n".join(",".join(map(str, r)) for r in rows))
    line = one_line_error(*run_main("train", "--data", tmp_path / "t.csv", "--epochs", 1, *TINY, "--out", tmp_path / "run")[::2])
    assert "t.csv, line 6" in line and "float32" in line, line

def test_decompression_bomb_is_one_line(tmp_path):
    from PIL import Image
    root = image_folder(tmp_path / "imgs")
    Image.new("L", (12000, 8000)).save(root / "a" / "big.png")   # 96 Mpixels: PIL warns (past 89), does not refuse
    r = run_cli("train", "--data", root, "--image-size", 8, "--epochs", 1, *TINY, "--out", tmp_path / "run")
    assert r.returncode == 0 and "DecompressionBomb" not in r.stderr, r.stderr   # PIL's warning added 2 lines
    Image.new("L", (14000, 13000)).save(root / "a" / "big.png")   # 182 Mpixels: past twice the limit, refused
    r = run_cli("train", "--data", root, "--image-size", 8, "--epochs", 1, *TINY, "--out", tmp_path / "run2")
    assert "big.png" in one_line_error(r.returncode, r.stderr)

def test_load_prefers_the_newer_model_and_checks_device(runs, tmp_path):
    import vae_nb
    from vae_nb.runs import RunSpec, load_run
    run = shutil.copytree(runs[0], tmp_path / "run")
    model, spec, _ = load_run(run)
    with torch.no_grad(): next(model.parameters()).add_(1.0)
    time.sleep(0.01); vae_nb.save(model, spec, run)
    loaded = vae_nb.load(run)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(ValueError, match="`device` must be a torch device"): vae_nb.load(run, device="foo")

def test_nan_step_is_counted_from_one(tmp_path):
    "With --lr 1e10 the first step succeeds and the second meets NaN: it is step 2."
    line = one_line_error(*run_main("train", "--lr", 1e10, "--epochs", 1, "--hidden", 16, "--latent-dim", 2,
                                    "--device", "cpu", "--out", tmp_path / "run")[::2], status=1)
    assert "at step 2:" in line and "no checkpoint was written" in line, line
