"Checks of bench/reproduce_nll.py that need neither the MNIST file nor long training: the schedule, the models, the merge."
import importlib.util, json, subprocess, sys
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("reproduce_nll", ROOT / "bench" / "reproduce_nll.py")
rn = importlib.util.module_from_spec(spec); spec.loader.exec_module(rn)

def test_paper_schedule():
    factor, total = rn.paper_schedule(steps_per_epoch=10)
    assert total == 3280  # sum of 3^i, i = 0..7
    starts = [sum(3**j for j in range(i)) for i in range(8)]  # first epoch of each stage
    for i, e in enumerate(starts):
        assert abs(factor(e * 10, None) - 10 ** (-i / 7)) < 1e-12
        if e: assert abs(factor(e * 10 - 1, None) - 10 ** (-(i - 1) / 7)) < 1e-12
    assert abs(factor(total * 10 - 1, None) - 0.1) < 1e-12

def test_models_report_likelihoods():
    x = (torch.rand(3, 784) > 0.5).float()
    depths = dict(vae=1, iwae5=1, iwae50=1, vae2=2, ladder=2, deep=4)
    assert set(rn.RECIPES) == set(depths)
    for key, r in rn.RECIPES.items():
        m = r["build"]()
        assert m.depth == depths[key]
        assert m.log_importance_weights(x, 4).shape == (3, 4)
        assert torch.isfinite(m.loss_terms(x)["loss"])

def test_merge(tmp_path):
    rec = dict(recipe="vae", model="m", objective="ELBO", nll=95.0, nll_se=0.5, elbo=-99.0, published_test="89.8-89.9", epochs=2,
               schedule="SHORTENED", train_s=60.0, eval_s=120.0, device_name="CPU")
    for n, t in (("a", 100.0), ("b", 300.0)):
        (tmp_path / f"{n}.json").write_text(json.dumps(dict(command=f"cmd {n}", total_s=t, shortened=True, results=[rec])))
    subprocess.run([sys.executable, str(ROOT / "bench" / "reproduce_nll.py"), "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                    "--out", str(tmp_path), "--name", "merged"], check=True, capture_output=True)
    md = (tmp_path / "merged.md").read_text()
    assert md.count("| m | ELBO | 95.00 ± 0.50 |") == 2 and "SHORTENED" in md and "cmd a ; cmd b" in md
    assert json.loads((tmp_path / "merged.json").read_text())["total_s"] == 300.0
