"Image-folder caches of the tests go to a temporary folder, never the user's ~/.cache."
import os
import pytest

@pytest.fixture(autouse=True, scope="session")
def image_cache(tmp_path_factory):
    "`$VAE_NB_CACHE` for the whole session (subprocesses inherit it)."
    before = os.environ.get("VAE_NB_CACHE")
    os.environ["VAE_NB_CACHE"] = str(tmp_path_factory.mktemp("image_cache"))
    yield os.environ["VAE_NB_CACHE"]
    if before is None: os.environ.pop("VAE_NB_CACHE")
    else: os.environ["VAE_NB_CACHE"] = before
