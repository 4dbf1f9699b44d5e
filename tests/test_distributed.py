"Multi-process training: 2 CPU processes under torchrun with gloo train in lock-step, like one process with the global batch; and `torchrun -m vae_nb train` end to end."
import json, math, os, shutil, subprocess, sys, textwrap
from pathlib import Path
import pytest
from safetensors.torch import load_file

SCRIPT = textwrap.dedent('''
    import json, os, sys
    from pathlib import Path
    import torch
    from torch import nn
    from safetensors.torch import save_file
    from vae_nb.core import reparameterize, kl_divergence_gaussian, bce_loss
    from vae_nb.data import load_digits_data
    from vae_nb.train import fit

    class SmallVAE(nn.Module):
        "A one-hidden-layer Bernoulli VAE on 8x8 digits, following the engine's protocol."
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 8))
            self.dec = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 64))
        def loss_terms(self, x, condition=None):
            mu, logvar = self.enc(x).chunk(2, dim=-1)
            recon, kl = bce_loss(self.dec(reparameterize(mu, logvar)), x.flatten(1)), kl_divergence_gaussian(mu, logvar)
            return {"loss": recon + kl, "recon": recon, "kl": kl}

    out, batch_size = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = SmallVAE()
    history = fit(model, load_digits_data("train"), 6, batch_size=batch_size, lr=3e-3, device="cpu", seed=0,
                  progress=False, out_dir=out / "run")
    rank = int(os.environ.get("RANK", "0"))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / f"params_rank{rank}.safetensors")
    (out / f"history_rank{rank}.json").write_text(json.dumps(history))
''')

def _run(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "Train twice: 2 processes with batch 32 each, and 1 process with the global batch of 64."
    tmp = tmp_path_factory.mktemp("ddp")
    (tmp / "train.py").write_text(SCRIPT)
    (tmp / "ddp").mkdir(); (tmp / "single").mkdir()
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(tmp / "train.py"), str(tmp / "ddp"), "32"], tmp)
    _run([sys.executable, str(tmp / "train.py"), str(tmp / "single"), "64"], tmp)
    return tmp

def test_parameters_identical_across_ranks(runs):
    p0, p1 = (load_file(runs / "ddp" / f"params_rank{r}.safetensors") for r in (0, 1))
    assert p0.keys() == p1.keys()
    for k in p0: assert (p0[k] == p1[k]).all(), f"rank 0 and rank 1 disagree on {k}"

def test_loss_falls_like_one_process_with_the_global_batch(runs):
    ddp = json.loads((runs / "ddp" / "history_rank0.json").read_text())
    single = json.loads((runs / "single" / "history_rank0.json").read_text())
    assert [r["step"] for r in ddp] == [r["step"] for r in single]   # same number of steps: 2 x 32 = 64 examples per step
    ddp_loss, single_loss = [r["loss"] for r in ddp], [r["loss"] for r in single]
    assert ddp_loss[-1] < ddp_loss[0] - 5, ddp_loss
    for a, b in zip(ddp_loss, single_loss): assert abs(a - b) < 0.03 * b, (ddp_loss, single_loss)

def test_only_rank_zero_writes(runs):
    files = sorted(p.name for p in (runs / "ddp" / "run").iterdir())
    assert files == ["checkpoint.json", "checkpoint.safetensors", "history.csv", "history.json", "loss_curve.png"], files
    ckpt = json.loads((runs / "ddp" / "run" / "checkpoint.json").read_text())
    assert ckpt["trainer"]["world_size"] == 2 and ckpt["step"] == 6 * (1497 // 2 // 32 + 1)

TORCHRUN = shutil.which("torchrun")

@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not on PATH (it is installed with PyTorch); cannot test `torchrun -m vae_nb train`")
def test_torchrun_vae_nb_train_end_to_end(tmp_path):
    "`torchrun --standalone --nproc_per_node=2 -m vae_nb train`: exit 0, one set of outputs written by rank 0 only, and `vae_nb eval` reads them."
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root), "VAE_NB_DATA": str(tmp_path / "nodata")}
    out = tmp_path / "run"
    r = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "vae_nb", "train", "--epochs", "1", "--batch-size", "64",
                        "--device", "cpu", "--out", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = ["checkpoint.json", "checkpoint.safetensors", "history.csv", "history.json", "loss_curve.png", "reconstructions.png", "samples.png"]
    assert sorted(p.name for p in out.iterdir()) == files                       # no temporary or per-rank leftovers
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [Path("run"), *(Path("run") / f for f in files)]   # nothing else
    assert r.stdout.count("outputs in") == 1 and r.stdout.count("trained vae on digits") == 1   # only rank 0 prints
    ckpt = json.loads((out / "checkpoint.json").read_text())
    assert ckpt["trainer"]["world_size"] == 2 and ckpt["step"] == math.ceil(math.ceil(1497 / 2) / 64)   # each rank: half the data
    assert [h["split"] for h in json.loads((out / "history.json").read_text())] == ["train", "valid"]
    e = subprocess.run([sys.executable, "-m", "vae_nb", "eval", str(out), "--k", "10", "--device", "cpu", "--json"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert e.returncode == 0, e.stderr
    res = json.loads(e.stdout)
    assert res["n"] == 300 and res["nll"] <= -res["elbo"] + 1e-3
    # a model whose step is not all under DistributedDataParallel is refused, with one line per process and nothing written
    r = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "vae_nb", "train", "--model", "klae", "--epochs", "1",
                        "--device", "cpu", "--out", str(tmp_path / "klae")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode != 0 and r.stderr.count("vae_nb train: error: --model klae cannot train under torchrun") == 2, r.stderr[-3000:]
    assert not (tmp_path / "klae").exists()
