"""scikit-learn's own conformance suite for `VAEEstimator`, plus what a notebook shows less well: parallel model selection."""
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from vae_nb import VAEEstimator

torch.set_num_threads(1)  # tiny networks: one thread is fastest, and fair on a shared machine

# Two configurations: the deterministic one (posterior means) must pass every check; the default one samples
# z ~ q(z|x) in `transform` and declares itself `non_deterministic`, so scikit-learn skips the checks that compare
# two transforms of the same rows. Both train for 2 epochs to keep the suite fast.
ESTIMATORS = [VAEEstimator(max_epochs=2, stochastic_transform=False), VAEEstimator(max_epochs=2)]

# Checks expected to fail, each with its reason, in scikit-learn's own protocol (`expected_failed_checks`, sklearn >= 1.6).
# None is needed: the stochastic configuration's randomness is declared with the `non_deterministic` tag, and with
# `random_state` set every draw (fit, transform, score, sample) is reproducible. `xfail_strict=True` makes a listed
# check that passes an error, so the list cannot go stale.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS, xfail_strict=True)
def test_sklearn_conformance(estimator, check):
    check(estimator)

def test_pipeline_on_digits():
    "StandardScaler -> VAEEstimator -> LogisticRegression: a short training already gives useful features."
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(),
                         VAEEstimator(latent_dim=10, stochastic_transform=False, lr=3e-3, max_epochs=10, random_state=0),
                         LogisticRegression(max_iter=1000))
    accuracy = pipe.fit(X_train, y_train).score(X_test, y_test)
    assert accuracy > 0.75, accuracy  # 10 classes: chance is 0.1

def test_grid_search_in_parallel():
    "GridSearchCV with two worker processes: the estimator is pickled to the workers and `score` (mean ELBO) ranks the candidates."
    X = (load_digits().data[:600] / 16).astype(np.float32)
    est = VAEEstimator(default_dist="bernoulli", stochastic_transform=False, max_epochs=5, random_state=0)
    search = GridSearchCV(est, {"lr": [1e-6, 1e-2]}, cv=2, n_jobs=2).fit(X)
    low, high = search.cv_results_["mean_test_score"]
    assert high > low + 5, (low, high)  # the model that trained has the higher held-out ELBO
    assert search.best_params_ == {"lr": 1e-2}
    assert search.best_estimator_.transform(X).shape == (600, 2)

def test_bad_device_is_named():
    "A device torch does not know is refused with one line naming `device`, before any network is built."
    import numpy as np, pytest
    from vae_nb.estimator import VAEEstimator
    with pytest.raises(ValueError, match=r"^`device` must be one of .*got 'foo'$"):
        VAEEstimator(device="foo", max_epochs=1).fit(np.random.rand(20, 4).astype("float32"))
