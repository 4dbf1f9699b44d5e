"""Reading a folder of N random 64x64 RGB PNGs (issue 28): today's one-process decode into float32 (main's
`read_image_folder` loop), the first read into vae_nb's uint8 cache (all cores), a cached start, and an epoch from the
cache against the same images in memory and torchvision's `ImageFolder` + `DataLoader(num_workers=2)`.
Each measurement runs in its own process (one torch thread; the cache loader adds a thread that gathers the next batch) and reports its own peak RSS; the 1-minute load average is
printed with every figure (2 cores shared with other jobs here).

    python bench/loader_cache.py --n 1000 10000            # temporary folders under /tmp, deleted afterwards
    python bench/loader_cache.py --n 100000 --root /tmp/x  # keeps the PNGs in /tmp/x/png100000 for a rerun
"""
import argparse, json, math, os, resource, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

BATCH = 128

def make_pngs(folder:Path, n:int, seed:int=0) -> Path:
    "N random 64x64 RGB PNGs in folder/all (one class, as `ImageFolder` needs); existing files are kept."
    import numpy as np
    from PIL import Image
    (folder / "all").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        a, p = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), folder / "all" / f"{i:06d}.png"
        if not p.exists(): Image.fromarray(a).save(p, compress_level=1)
    return folder

def load() -> float: return os.getloadavg()[0]
def rss_mb(who=resource.RUSAGE_SELF) -> float: return resource.getrusage(who).ru_maxrss / 1024

def main_decode(path:Path):
    "main's `_decode` (commit 7a2c122) for an 8-bit file, with its `pil_to_tensor`."
    from PIL import Image
    from torchvision.transforms.v2.functional import pil_to_tensor
    with open(path, "rb") as f:
        img = Image.open(f); img.load()
        return pil_to_tensor(img.convert("RGB"))

def today(folder:Path, limit:int) -> dict:
    "main's `read_image_folder` loop: decode each file in this process, float32 per image, then stack (imports untimed)."
    import torch
    from torchvision.transforms.v2 import functional as TF
    from vae_nb.user_data import _image_files
    t = time.perf_counter(); files = _image_files(folder)[0]; listing = time.perf_counter() - t
    main_decode(files[0])   # PIL's plugins loaded
    t = time.perf_counter()
    x = torch.stack([TF.to_dtype(main_decode(f), torch.float32, scale=True) for f in files[:limit]])
    s = time.perf_counter() - t
    # the rate of decoding alone (listing the folder, `list_s`, is reported apart; `first` includes its own)
    return {"images": len(x), "seconds": s, "per_s": len(x) / s, "list_s": listing}

def first(folder:Path, cache:Path) -> dict:
    "The first read: decode on every core into the uint8 cache, then open it (imports not timed, as for `today`)."
    from torchvision.transforms.v2 import functional as TF
    from vae_nb.user_data import _decode, _image_files, open_image_folder
    _decode(_image_files(folder)[0][0], None)
    t = time.perf_counter(); data = open_image_folder(folder, cache_dir=cache)
    s = time.perf_counter() - t
    return {"images": len(data), "seconds": s, "per_s": len(data) / s, "workers_rss_mb": rss_mb(resource.RUSAGE_CHILDREN),
            "cache_mb": sum(p.stat().st_size for p in cache.glob("*.npy")) / 2**20}

def cached(folder:Path, cache:Path) -> dict:
    from vae_nb.user_data import open_image_folder
    t = time.perf_counter(); data = open_image_folder(folder, cache_dir=cache)
    return {"images": len(data), "seconds": time.perf_counter() - t}

class Images:
    "x-only batches of a `DataLoader` over `ImageFolder` (the conv VAE is unconditional)."
    def __init__(self, dl): self.dl = dl
    def __len__(self): return len(self.dl)
    def __iter__(self): return (x for x, _ in self.dl)

def loader(kind:str, folder:Path, cache:Path):
    import torch
    from vae_nb.loaders import make_loader
    from vae_nb.user_data import open_image_folder
    if kind == "imagefolder":
        from torchvision import datasets, transforms
        ds = datasets.ImageFolder(str(folder), transform=transforms.ToTensor())
        return Images(torch.utils.data.DataLoader(ds, BATCH, shuffle=True, num_workers=2,
                                                  generator=torch.Generator().manual_seed(0)))
    x = open_image_folder(folder, cache_dir=cache).x
    dl = make_loader(x if kind.startswith("cache") else x[:], BATCH, seed=0)
    dl.prefetch = kind != "cache-serial"   # "cache": the next batch gathered in a background thread (the default)
    return dl

def epoch(kind:str, folder:Path, cache:Path) -> dict:
    "One full pass of a loader alone (its peak RSS is this process's)."
    t = time.perf_counter(); dl = loader(kind, folder, cache); setup = time.perf_counter() - t
    t = time.perf_counter(); n = sum(len(b) for b in dl)
    return {"setup_s": setup, "loader_epoch_s": time.perf_counter() - t, "images": n}

def train(kind:str, folder:Path, cache:Path, batches:int, seed:int, arch:str, hidden:int) -> dict:
    "Seconds per batch of a small VAE (vae_nb's Trainer, 1 thread) fed by one loader, after 3 warm-up steps."
    import torch
    from vae_nb.runs import MODELS, RunSpec
    from vae_nb.train import Trainer
    dl = loader(kind, folder, cache)
    torch.manual_seed(0)
    model = MODELS[arch].build(RunSpec(arch, "bench", (3, 64, 64), "bce", hidden=hidden, latent_dim=16))
    trainer = Trainer(model, dl, batch_size=BATCH, lr=1e-3, device="cpu", seed=seed, progress=False)
    trainer.fit(1, max_steps=3)   # the first steps import and allocate
    steps = min(batches, len(dl) - 4)   # within the epoch: no end-of-epoch work is timed
    t = time.perf_counter(); trainer.fit(1, max_steps=3 + steps); s = (time.perf_counter() - t) / steps
    return {"kind": kind, "s_per_batch": s, "batches_timed": steps, "batches_per_epoch": len(dl), "epoch_s": s * len(dl)}

def phase(a) -> None:
    "One measurement in this process: print its figures, peak RSS and load average as one JSON line."
    import torch
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    res = (today(a.folder, a.limit) if a.phase == "today" else first(a.folder, a.cache) if a.phase == "first"
           else cached(a.folder, a.cache) if a.phase == "cached"
           else train(a.phase[6:], a.folder, a.cache, a.train_batches, a.seed, a.model, a.hidden) if a.phase.startswith("train-")
           else epoch(a.phase[6:], a.folder, a.cache))
    print(json.dumps({"phase": a.phase, **res, "process_s": time.perf_counter() - t0, "rss_mb": rss_mb(), "load": load()}))

def run(args:list, **kw) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True, env=env, **kw)
    if out.returncode: raise SystemExit(out.stderr)
    t = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"    {json.dumps(t)}", flush=True)
    return t

def bench(n:int, root:Path, train_batches:int, rounds:int, model:str, hidden:int, train_only:bool) -> dict:
    folder, cache = root / f"png{n}", root / f"cache{n}"
    t = time.perf_counter(); make_pngs(folder, n)
    print(f"N = {n:,}: {n:,} PNGs ready in {time.perf_counter() - t:.0f} s (load {load():.2f})", flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    common = ["--folder", folder, "--cache", cache, "--train-batches", train_batches, "--rounds", rounds,
              "--model", model, "--hidden", hidden]
    r = {"n": n, "uint8_mb": n * 3 * 64 * 64 / 2**20}
    if not train_only:
        r["today"] = run(["--phase", "today", "--limit", min(n, 10000), *common])
        r["first"] = run(["--phase", "first", *common])
        r["cached"] = run(["--phase", "cached", *common])
        for kind in ("cache", "memory", "imagefolder"): r[kind] = run(["--phase", f"epoch-{kind}", *common])
    else: run(["--phase", "cached", *common])   # builds the cache (not timed here)
    kinds, r["train"] = ("cache", "cache-serial", "memory", "imagefolder"), {}
    for i in range(rounds):   # one process per loader and round, the order rotated every round
        for kind in kinds[i % 4:] + kinds[:i % 4]:
            r["train"].setdefault(kind, []).append(run(["--phase", f"train-{kind}", "--seed", i, *common])["s_per_batch"])
    for kind, v in r["train"].items():
        print(f"  {kind}: s per batch min / median / max {min(v):.4f} / {statistics.median(v):.4f} / {max(v):.4f}, "
              f"epoch est. {statistics.median(v) * math.ceil(n / BATCH):.0f} s", flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    return r

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--root", type=Path, help="keep the PNGs here (default: a temporary folder, deleted)")
    p.add_argument("--train-batches", type=int, default=50, help="training steps timed per loader and round")
    p.add_argument("--rounds", type=int, default=5, help="rounds of the training timing, one process per loader each")
    p.add_argument("--phase"); p.add_argument("--folder", type=Path); p.add_argument("--cache", type=Path)
    p.add_argument("--model", default="conv", help="the model trained: conv (the default) or vae (an MLP)")
    p.add_argument("--hidden", type=int, default=8, help="its channels (conv) or hidden units (vae)")
    p.add_argument("--train-only", action="store_true", help="time the training alone (no reads, no loader passes)")
    p.add_argument("--limit", type=int); p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.phase: phase(a); sys.exit()
    root = a.root or Path(tempfile.mkdtemp(prefix="vae_nb_bench_"))
    try:
        results = [bench(n, root, a.train_batches, a.rounds, a.model, a.hidden, a.train_only) for n in a.n]
    finally:
        if a.root is None: shutil.rmtree(root)
    print(json.dumps(results))
