"Multi-process training: 2 CPU processes under torchrun with gloo train in lock-step, like one process with the global batch; a KLAE (whose discriminator step bypasses DDP) stays in lock-step too; and `torchrun -m vae_nb train` end to end."
import json, math, os, shutil, subprocess, sys, textwrap
from pathlib import Path
import pytest
import torch
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

KLAE_SCRIPT = textwrap.dedent('''
    import json, os, sys
    from pathlib import Path
    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file
    from vae_nb.data import load_digits_data
    from vae_nb.klae import AutoencoderKL
    from vae_nb.train import Trainer

    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = AutoencoderKL(1, hidden_dim=8, latent_dim=2, n_downsample=1, n_res_blocks=1, disc_hidden_dim=8, disc_layers=1,
                          disc_start=3, grad_clip=1., lr=1e-3)
    disc_init = {k: v.detach().clone() for k, v in model.discriminator.state_dict().items()}
    trainer = Trainer(model, load_digits_data("train"), batch_size=32, device="cpu", seed=0, progress=False, log_every=1)
    trainer.fit(1, max_steps=8)
    steps = int(model.step)   # before the gradient checks below, which call `loss_terms` in training mode
    rank = int(os.environ.get("RANK", "0"))
    # the adaptive weight's autograd.grad calls inside the DDP forward: DDP's gradients are still the mean of each process's own
    x = load_digits_data("train").tensors[0][32 * rank:32 * (rank + 1)]
    ae = [p for n, p in model.named_parameters() if not n.startswith("discriminator.")]
    def grads(loss_terms):
        torch.manual_seed(100 + rank); model.zero_grad(set_to_none=True)
        terms = loss_terms(x); terms["loss"].backward()
        return terms, torch.cat([p.grad.flatten() for p in ae])
    terms, ddp = grads(trainer.objectives[0].loss_terms)   # the first objective, routed through DistributedDataParallel
    _, local = grads(model.loss_terms)
    dist.all_reduce(local); local /= dist.get_world_size()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / f"params_rank{rank}.safetensors")
    save_file({k: v.contiguous() for k, v in disc_init.items()}, out / f"disc_init_rank{rank}.safetensors")
    (out / f"check_rank{rank}.json").write_text(json.dumps({"world_size": dist.get_world_size(), "gan_weight": float(terms["gan_weight"]),
        "grad_diff": float((ddp - local).abs().max()), "grad_scale": float(local.abs().max()), "steps": steps,
        "disc_steps": sum("disc_loss" in r for r in trainer.step_history)}))
    # negative control: without the engine's averaging of the discriminator's gradients, the ranks' discriminators drift apart
    import vae_nb.step
    vae_nb.step.average_gradients = lambda params: None
    trainer.fit(1, max_steps=12)
    save_file({k: v.contiguous() for k, v in model.discriminator.state_dict().items()}, out / f"disc_unsynced_rank{rank}.safetensors")
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
    assert files == ["checkpoint.json", "checkpoint.safetensors", "history.csv", "history.json"], files   # the engine draws nothing (the command line draws the loss curve)
    ckpt = json.loads((runs / "ddp" / "run" / "checkpoint.json").read_text())
    assert ckpt["trainer"]["world_size"] == 2 and ckpt["step"] == 6 * (1497 // 2 // 32 + 1)

@pytest.fixture(scope="module")
def klae_run(tmp_path_factory):
    "Train a tiny `AutoencoderKL` for 8 steps on 2 processes, its discriminator from step 3."
    tmp = tmp_path_factory.mktemp("klae")
    (tmp / "train.py").write_text(KLAE_SCRIPT)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(tmp / "train.py"), str(tmp)], tmp)
    return tmp

def test_klae_identical_across_ranks(klae_run):
    "Autoencoder (through DDP) and discriminator (its own step, gradients averaged by `average_gradients`) agree on both ranks."
    checks = [json.loads((klae_run / f"check_rank{r}.json").read_text()) for r in (0, 1)]
    assert all(c["world_size"] == 2 and c["steps"] == 8 and c["disc_steps"] == 5 for c in checks), checks
    p0, p1 = (load_file(klae_run / f"params_rank{r}.safetensors") for r in (0, 1))
    assert p0.keys() == p1.keys() and any(k.startswith("discriminator.") for k in p0)
    for k in p0:
        if k.endswith(("running_mean", "running_var")): continue   # batch-norm statistics: each rank's own since the last DDP forward
        assert torch.equal(p0[k], p1[k]), f"rank 0 and rank 1 disagree on {k}: max abs difference {(p0[k] - p1[k]).abs().max()}"
    init = load_file(klae_run / "disc_init_rank0.safetensors")
    assert all(torch.equal(init[k], load_file(klae_run / "disc_init_rank1.safetensors")[k]) for k in init)
    weights = [k for k in init if k.endswith("weight")]
    assert weights and all(not torch.equal(init[k], p0["discriminator." + k]) for k in weights)   # the discriminator trained

def test_klae_drifts_without_gradient_averaging(klae_run):
    "Negative control: the same run, 4 more steps with the discriminator's gradient averaging switched off, leaves the ranks' discriminators apart."
    d0, d1 = (load_file(klae_run / f"disc_unsynced_rank{r}.safetensors") for r in (0, 1))
    assert any(not torch.equal(d0[k], d1[k]) for k in d0 if k.endswith("weight")), "the ranks agree without averaging: the agreement test could not fail"

def test_klae_adaptive_weight_under_ddp(klae_run):
    "The adaptive weight's `autograd.grad` inside the DDP forward leaves DDP's averaging intact: its gradients are the mean of the ranks' own."
    for r in (0, 1):
        c = json.loads((klae_run / f"check_rank{r}.json").read_text())
        assert c["gan_weight"] > 0 and c["grad_diff"] <= 1e-5 * c["grad_scale"], c

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
    # a model with its own `train_step` and a step outside DistributedDataParallel (KLAE's discriminator step) trains too
    r = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "vae_nb", "train", "--model", "klae", "--epochs", "1", "--batch-size", "64",
                        "--hidden", "8", "--device", "cpu", "--out", str(tmp_path / "klae")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and r.stdout.count("trained klae on digits") == 1, r.stdout[-3000:] + r.stderr[-3000:]
    assert json.loads((tmp_path / "klae" / "checkpoint.json").read_text())["trainer"]["world_size"] == 2

VQ_SCRIPT = textwrap.dedent('''
    import sys
    from pathlib import Path
    import torch
    from safetensors.torch import save_file
    from vae_nb.data import load_digits_data
    from vae_nb.vq import VQVAE
    from vae_nb.train import Trainer

    out, synced = Path(sys.argv[1]), sys.argv[2] == "synced"
    if not synced:   # negative control: each process updates its codebook from its own batch, as before the fix
        import vae_nb.vq
        vae_nb.vq.sum_over_processes = vae_nb.vq.from_first_process = lambda t: t
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {kw: VQVAE(1, hidden_dim=8, num_embeddings=16, embedding_dim=4, n_downsample=1, n_res_blocks=1, **dict([kw]))
              for kw in (("ema", True), ("init", "data"), ("restart_after", 1))}
    rank = __import__("os").environ["RANK"]
    for (name, _), model in models.items():
        Trainer(model, load_digits_data("train"), batch_size=32, device="cpu", seed=0, progress=False).fit(1, max_steps=6)
        state = {k: v.contiguous() for k, v in model.quantizer.state_dict().items()}
        save_file(state, out / f"{name}_{'synced' if synced else 'local'}_rank{rank}.safetensors")
''')

@pytest.fixture(scope="module")
def vq_run(tmp_path_factory):
    "Train tiny VQ-VAEs for 6 steps on 2 processes: EMA codebook, codebook from data, dead-code restarts; then without syncing."
    tmp = tmp_path_factory.mktemp("vq")
    (tmp / "train.py").write_text(VQ_SCRIPT)
    for mode in ("synced", "local"):
        _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(tmp / "train.py"), str(tmp), mode], tmp)
    return tmp

@pytest.mark.parametrize("name", ["ema", "init", "restart_after"])
def test_vq_codebooks_identical_across_ranks(vq_run, name):
    "A VQ-VAE's codebook and its EMA state agree on both ranks; without summing the batch statistics and sharing the chosen rows they drift apart."
    for mode, agree in (("synced", True), ("local", False)):
        q0, q1 = (load_file(vq_run / f"{name}_{mode}_rank{r}.safetensors") for r in (0, 1))
        same = all(torch.equal(q0[k], q1[k]) for k in q0)
        assert same == agree, f"{name}, {mode}: ranks {'disagree' if agree else 'agree (the test could not fail)'}: " + \
            str({k: float((q0[k].float() - q1[k].float()).abs().max()) for k in q0})

FAILING_RANK_SCRIPT = textwrap.dedent('''
    import torch
    from torch import nn
    from vae_nb.core import check_finite, reparameterize, kl_divergence_gaussian, bce_loss
    from vae_nb.train import Trainer

    class Checked(nn.Module):
        "A linear VAE that checks its input: the batch holding the NaN example raises on its rank alone."
        def __init__(self):
            super().__init__()
            self.enc, self.dec = nn.Linear(16, 4), nn.Linear(2, 16)
        def loss_terms(self, x, condition=None):
            mu, logvar = self.enc(check_finite(x, "x")).chunk(2, dim=-1)
            recon, kl = bce_loss(self.dec(reparameterize(mu, logvar)), x), kl_divergence_gaussian(mu, logvar)
            return {"loss": recon + kl, "recon": recon, "kl": kl}

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = (torch.rand(64, 16) < 0.5).float()
    x[37, 0] = float("nan")   # one bad example, in one process's shard
    Trainer(Checked(), x, batch_size=8, device="cpu", progress=False, seed=0, grad_skip=None).fit(1)
''')

def test_one_failing_rank_stops_the_run(tmp_path):
    "An error on one rank (a NaN in its shard) makes the whole run exit non-zero, instead of every rank hanging at a barrier."
    (tmp_path / "train.py").write_text(FAILING_RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    try:
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(tmp_path / "train.py")],
                           capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("one rank's error left the run hanging for 120 s")
    assert r.returncode != 0 and "`x` must be finite" in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-3000:]
