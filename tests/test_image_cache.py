"""The decoded-image cache of `--data FOLDER` (issue 28): rebuilt when the folder changes, never trusted when damaged,
built once when two processes ask at the same time; training from it resumes exactly and matches decoding into memory."""
import json, os, shutil, subprocess, sys, textwrap
from pathlib import Path
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torchvision.io import write_png
from vae_nb.user_data import ByteImages, DataFileError, open_image_folder, read_array, read_csv, read_image_folder
import vae_nb.user_data as user_data
from cli_helpers import run_main, one_line_error

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
TINY = ("--hidden", 16, "--latent-dim", 2, "--device", "cpu", "--batch-size", 16)

def folder(root:Path, n:int=40, classes=("a", "b"), seed:int=0) -> Path:
    "Class sub-folders of distinct random 8x8 colour PNGs."
    g = torch.Generator().manual_seed(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n // len(classes)): write_png(torch.randint(0, 256, (3, 8, 8), generator=g, dtype=torch.uint8), str(root / c / f"{i:03d}.png"))
    return root

def cache_files(cache:Path) -> dict:
    return {p.suffix: p for p in cache.iterdir() if not p.name.startswith(".")}

def test_cache_holds_the_decoded_images_and_is_reused(tmp_path, monkeypatch):
    imgs, cache = folder(tmp_path / "imgs"), tmp_path / "cache"
    data = open_image_folder(imgs, cache_dir=cache)
    assert isinstance(data.x, ByteImages) and data.classes == ("a", "b") and data.y.tolist() == [0] * 20 + [1] * 20
    assert torch.equal(data.x[:], read_image_folder(imgs).x)
    npy = cache_files(cache)[".npy"]
    assert np.load(npy, mmap_mode="r").shape == (40, 3, 8, 8)   # a plain .npy anyone can read
    before = npy.stat()
    assert torch.equal(open_image_folder(imgs, cache_dir=cache).x[:], data.x[:])
    assert (npy.stat().st_ino, npy.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)   # reused, not rewritten
    for where, name in ((tmp_path, "imgs"), (imgs, "."), (imgs / "a", "..")):   # the same folder, named otherwise
        monkeypatch.chdir(where)
        assert torch.equal(open_image_folder(name, cache_dir=cache).x[:], data.x[:])
    assert (npy.stat().st_ino, npy.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

@pytest.mark.parametrize("change", ["added", "changed", "removed", "renamed"])
def test_a_changed_folder_is_read_again(tmp_path, change):
    imgs, cache = folder(tmp_path / "imgs"), tmp_path / "cache"
    open_image_folder(imgs, cache_dir=cache)
    target = imgs / "b" / "005.png"
    if change == "added": write_png(torch.zeros(3, 8, 8, dtype=torch.uint8), str(imgs / "b" / "new.png"))
    elif change == "changed":
        write_png(torch.full((3, 8, 8), 200, dtype=torch.uint8), str(target))
        os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1))   # even within a clock tick
    elif change == "removed": target.unlink()
    else: target.rename(imgs / "b" / "zzz.png")
    got = open_image_folder(imgs, cache_dir=cache)
    assert torch.equal(got.x[:], read_image_folder(imgs).x) and len(got) == {"added": 41, "removed": 39}.get(change, 40)
    assert len([p for p in cache.iterdir() if p.suffix == ".npy"]) == 1   # replaced, not one more file per change

DAMAGE = {
    "truncated": lambda npy, meta: os.truncate(npy, npy.stat().st_size - 7),
    "a pixel flipped": lambda npy, meta: _flip(npy, -100),
    "header damaged": lambda npy, meta: _flip(npy, 20),
    "emptied": lambda npy, meta: npy.write_bytes(b""),
    "array deleted": lambda npy, meta: npy.unlink(),
    "manifest garbage": lambda npy, meta: meta.write_text("{not json"),
    "manifest of another folder": lambda npy, meta: meta.write_text(json.dumps({**json.loads(meta.read_text()), "key": {}})),
    "manifest deleted": lambda npy, meta: meta.unlink(),
}

def _flip(path:Path, at:int):
    b = bytearray(path.read_bytes()); b[at] ^= 0xFF; path.write_bytes(bytes(b))

@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_cache_is_rebuilt_never_trusted(tmp_path, damage):
    imgs, cache = folder(tmp_path / "imgs"), tmp_path / "cache"
    open_image_folder(imgs, cache_dir=cache)
    files = cache_files(cache)
    DAMAGE[damage](files[".npy"], files[".json"])
    assert torch.equal(open_image_folder(imgs, cache_dir=cache).x[:], read_image_folder(imgs).x)
    assert user_data._open_cache(files[".npy"], json.loads(files[".json"].read_text())["key"]) is not None   # whole again

def test_a_killed_builders_temporary_file_is_removed(tmp_path):
    imgs, cache = folder(tmp_path / "imgs"), tmp_path / "cache"
    open_image_folder(imgs, cache_dir=cache)
    npy = cache_files(cache)[".npy"]
    (cache / f".{npy.name}.99999.tmp").write_bytes(b"half written")
    npy.unlink()
    open_image_folder(imgs, cache_dir=cache)
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".")) == []

BUILDER = textwrap.dedent('''
    import sys, time, hashlib
    from pathlib import Path
    import vae_nb.user_data as u
    built, write = [], u._write_cache
    u._write_cache = lambda *a: (built.append(1), write(*a))
    go = Path(sys.argv[3])
    while not go.exists(): time.sleep(0.01)
    data = u.open_image_folder(sys.argv[1], cache_dir=sys.argv[2])
    print(len(built), hashlib.sha256(data.x[:].numpy().tobytes()).hexdigest())
''')

def test_two_processes_building_the_same_cache(tmp_path):
    imgs, cache, go = folder(tmp_path / "imgs", n=600), tmp_path / "cache", tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, imgs, cache, go], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    go.touch()   # both start at once
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    builds, digests = zip(*(o.split() for o, _ in outs))
    assert sorted(builds) == ["0", "1"]   # one decoded, the other waited and read what it wrote
    import hashlib
    assert set(digests) == {hashlib.sha256(read_image_folder(imgs).x.numpy().tobytes()).hexdigest()}
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []

def test_grey_folders_keep_one_channel_and_errors_name_the_file(tmp_path):
    imgs = tmp_path / "grey"; imgs.mkdir()
    for i in range(300): write_png(torch.full((1, 4, 4), i % 256, dtype=torch.uint8), str(imgs / f"{i:03d}.png"))
    cache = tmp_path / "cache"
    assert open_image_folder(imgs, cache_dir=cache).shape == (1, 4, 4)
    assert open_image_folder(imgs, channels=3, cache_dir=cache).shape == (3, 4, 4)
    write_png(torch.zeros(1, 5, 5, dtype=torch.uint8), str(imgs / "299.png"))   # in the second chunk of 256
    with pytest.raises(DataFileError, match=r"299.png is 5x5 pixels but .*000.png is 4x4"):
        open_image_folder(imgs, cache_dir=cache)
    assert [p.name for p in cache.iterdir() if p.name.startswith(".")] == []

def test_npy_is_memory_mapped_and_big_npz_csv_are_refused(tmp_path, monkeypatch):
    np.save(tmp_path / "u8.npy", np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4))
    np.save(tmp_path / "f32.npy", np.full((5, 1, 4, 4), 0.5, np.float32))
    u8, f32 = read_array(tmp_path / "u8.npy"), read_array(tmp_path / "f32.npy")
    assert isinstance(u8.x, ByteImages) and u8.shape == (3, 4, 4) and torch.equal((u8.x[:] * 255).round(), torch.arange(96.).reshape(2, 3, 4, 4))
    if Path("/proc/self/maps").exists():   # Linux: both files are mapped into this process, not read into it
        maps = Path("/proc/self/maps").read_text()
        assert str(tmp_path / "u8.npy") in maps and str(tmp_path / "f32.npy") in maps
    np.savez(tmp_path / "a.npz", x=np.zeros((100, 10), np.float32))
    (tmp_path / "t.csv").write_text("a,b\n" + "1,2\n" * 100)
    monkeypatch.setattr(user_data, "_memory_available", lambda: 1000)
    with pytest.raises(DataFileError, match=r"a.npz: reading its arrays .* needs about .* GB of memory, more than"):
        read_array(tmp_path / "a.npz")
    with pytest.raises(DataFileError, match=r"t.csv: a table of .* needs about .* GB of memory"):
        read_csv(tmp_path / "t.csv")
    code, _, err = run_main("train", "--data", tmp_path / "t.csv", "--epochs", 1, *TINY, "--out", tmp_path / "run")
    assert "t.csv" in one_line_error(code, err)
    assert torch.equal(read_array(tmp_path / "f32.npy").x, f32.x)   # memory maps are not refused

def weights(run:Path) -> dict:
    return {k: v for k, v in load_file(run / "checkpoint.safetensors").items() if k.startswith(("model/", "optim/"))}

def test_training_from_the_cache_resumes_exactly_and_matches_memory(tmp_path):
    imgs, cache = folder(tmp_path / "imgs", n=64), tmp_path / "cache"
    args = ("--data", imgs, "--model", "conv", "--hidden", 4, "--latent-dim", 2, "--device", "cpu", "--batch-size", 16)
    for name, epochs, where in (("one", 1, ("--cache-dir", cache)), ("two", 2, ("--cache-dir", cache)),
                                ("memory", 2, ("--no-cache",))):
        code, _, err = run_main("train", *args, "--epochs", epochs, *where, "--out", tmp_path / name)
        assert code == 0, err
    npy = cache_files(cache)[".npy"]; built = npy.stat().st_mtime_ns
    code, _, err = run_main("train", "--resume", "--epochs", 2, "--device", "cpu", "--cache-dir", cache, "--out", tmp_path / "one")
    assert code == 0, err
    a, b, m = weights(tmp_path / "one"), weights(tmp_path / "two"), weights(tmp_path / "memory")
    assert a.keys() == b.keys() == m.keys() and all(torch.equal(a[k], b[k]) and torch.equal(a[k], m[k]) for k in a)
    for cmd in (("eval", tmp_path / "two", "--k", 2), ("encode", tmp_path / "two", "--out", tmp_path / "z.npy")):
        code, _, err = run_main(*cmd, "--device", "cpu", "--cache-dir", cache)
        assert code == 0, err
    assert npy.stat().st_mtime_ns == built and np.load(tmp_path / "z.npy").shape == (64, 2)   # the same cache, read again
    source = json.loads((tmp_path / "two" / "checkpoint.json").read_text())["config"]["run"]["source"]
    assert not any("cache" in k for k in source)   # where this machine keeps pixels is not part of the run

def test_cache_flags_apply_to_folders_only(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((10, 3), np.float32))
    for data, flag in ((tmp_path / "a.npy", ("--no-cache",)), ("digits", ("--cache-dir", tmp_path / "c"))):
        line = one_line_error(*run_main("train", "--data", data, *flag, "--epochs", 1, *TINY, "--out", tmp_path / "r")[::2])
        assert flag[0] in line, line
    (tmp_path / "file").write_text("")
    imgs = folder(tmp_path / "imgs")
    line = one_line_error(*run_main("train", "--data", imgs, "--cache-dir", tmp_path / "file", "--epochs", 1, *TINY, "--out", tmp_path / "r")[::2])
    assert "--cache-dir" in line and "not a folder" in line, line

def test_an_unwritable_cache_is_one_line(tmp_path):
    imgs = folder(tmp_path / "imgs")
    (tmp_path / "file").write_text("")
    with pytest.raises(DataFileError, match=r"the image cache .*file/sub cannot be written \(.*\); give another --cache-dir, or --no-cache"):
        open_image_folder(imgs, cache_dir=tmp_path / "file" / "sub")

def mapped_rss(path:Path) -> int:
    "Bytes of `path` resident in this process's memory maps (Linux's /proc/self/smaps)."
    total, ours = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if "-" in line.split(" ")[0] and len(line.split()) >= 5: ours = line.split()[-1] == str(path)
        elif ours and line.startswith("Rss:"): total += int(line.split()[1]) * 1024
    return total

@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux's /proc")
def test_pages_read_from_the_cache_leave_the_process(tmp_path, monkeypatch):
    imgs = tmp_path / "imgs"; imgs.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(300): write_png(torch.randint(0, 256, (3, 64, 64), generator=g, dtype=torch.uint8), str(imgs / f"{i:03d}.png"))
    x = open_image_folder(imgs, cache_dir=tmp_path / "cache").x   # 3.7 MB of pixels
    npy = next((tmp_path / "cache").glob("*.npy"))
    monkeypatch.setattr(ByteImages, "release_bytes", 2**40)   # never
    whole = torch.cat([x[torch.arange(i, min(i + 32, 300))] for i in range(0, 300, 32)])
    assert mapped_rss(npy) > 3_000_000   # every page was read into the map
    monkeypatch.setattr(ByteImages, "release_bytes", 2**20)   # every 16 rows (each counted as 64 kB mapped)
    again = torch.cat([x[torch.arange(i, min(i + 32, 300))] for i in range(0, 300, 32)])
    assert torch.equal(again, whole) and torch.equal(x.subset(torch.arange(300))[:], whole)   # read back intact
    assert mapped_rss(npy) < 1_500_000
