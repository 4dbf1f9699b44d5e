"""The main job's model (`vae_nb train` with no flags) reconstructs the digit it is given and samples digit-like images.

A logistic-regression judge fitted on the original digits (the first 1,000 of scikit-learn's `load_digits`) labels the
reconstructions of the other 797 and scores prior samples by its mean confidence. The full 300-epoch run is measured
in `nbs/tutorials/first_vae.ipynb` (a `#| slow` cell: >= 90% accuracy, >= 0.75 confidence); here a short run of the same
model and data must already be well on its way, so a change that breaks the default model fails in CI."""
import contextlib, io
import numpy as np, torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from vae_nb.cli import main
from vae_nb.runs import load_run

def judge_scores(model, n_samples:int=1000) -> tuple[float, float]:
    "The judge's accuracy on reconstructions of digits 1000-1796, and its mean confidence on `n_samples` prior samples."
    digits = load_digits()
    x, y = digits.data / 16, digits.target
    judge = LogisticRegression(max_iter=2000).fit(x[:1000], y[:1000])
    torch.manual_seed(0)
    with torch.no_grad():
        recon = model.reconstruct(torch.tensor(x[1000:], dtype=torch.float32).reshape(-1, 1, 8, 8)).reshape(len(x) - 1000, -1)
        samples = model.sample(n_samples).reshape(n_samples, -1)
    return judge.score(recon.numpy(), y[1000:]), float(np.mean(judge.predict_proba(samples.numpy()).max(1)))

def test_default_model_learns_digits(tmp_path):
    with contextlib.redirect_stdout(io.StringIO()): main(["train", "--epochs", "100", "--save-every", "100", "--out", str(tmp_path)])
    from PIL import Image
    sizes = {f: Image.open(tmp_path / f).size for f in ("loss_curve.png", "reconstructions.png", "samples.png")}
    assert all(min(s) > 274 for s in sizes.values()), f"the pictures are labelled figures, larger than bare 274x274 grids: {sizes}"
    model, spec, _ = load_run(tmp_path)
    assert (spec.model, spec.data, spec.recon, spec.binarize) == ("vae", "digits", "bce", True)
    accuracy, confidence = judge_scores(model)
    assert accuracy >= 0.82 and confidence >= 0.66, f"after 100 epochs (measured 0.875, 0.719): accuracy {accuracy:.3f}, confidence {confidence:.3f}"
