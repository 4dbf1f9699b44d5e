"""Does gathering from an image cache slow the training thread beside it? (issue 28)

An MLP VAE (`--model vae --hidden 32`, 64x64 RGB, batch 128, one thread) trains 40 steps from 20,000 images held as
float32 in memory, alone or while a second thread gathers random batches of 128 from the cache without pause (the
work `InMemoryLoader(prefetch=True)` does once a step), 6 rounds alternating; ms per step, min / median / max.
A folder of 64x64 RGB images (e.g. the PNGs `bench/loader_cache.py --n 200000 --root /tmp/DIR` keeps) and a cache
folder (built on the first run, about 20 s for 200,000 images):

    python bench/loader_contention.py /tmp/DIR/png200000 /tmp/DIR/cache200000
"""
import statistics, sys, threading, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from vae_nb.runs import MODELS, RunSpec
from vae_nb.train import Trainer
from vae_nb.user_data import open_image_folder
data = open_image_folder(Path(sys.argv[1]), cache_dir=Path(sys.argv[2])).x
x = data.subset(torch.arange(20000))[:]   # 20,000 images as float in memory
torch.manual_seed(0)
model = MODELS["vae"].build(RunSpec("vae", "bench", (3, 64, 64), "bce", hidden=32, latent_dim=16))
tr = Trainer(model, x, batch_size=128, lr=1e-3, device="cpu", seed=0, progress=False)
tr.fit(1, max_steps=3)
stop, gathered = threading.Event(), [0]
def gather():
    g = torch.Generator().manual_seed(1)
    while not stop.is_set():
        data[torch.randint(0, len(data), (128,), generator=g)]; gathered[0] += 1
res = {"alone": [], "with gather thread": []}
for r in range(6):
    for kind in (("alone", "with gather thread") if r % 2 == 0 else ("with gather thread", "alone")):
        th = None
        if kind != "alone":
            stop.clear(); th = threading.Thread(target=gather); th.start()
        n, t = tr.step, time.perf_counter()
        tr.fit(10**6, max_steps=n + 40); res[kind].append((time.perf_counter() - t) / (tr.step - n) * 1e3)
        if th: stop.set(); th.join()
print(f"batches gathered per training step beside it: {gathered[0] / (40 * 6):.1f}")
for k, v in res.items(): print(f"{k}: ms per step min/median/max {min(v):.1f} / {statistics.median(v):.1f} / {max(v):.1f}")
