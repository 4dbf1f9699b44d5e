"Image-folder caches of the tests go to a temporary folder, never the user's ~/.cache."
import os, shutil, tempfile

def pytest_configure(config):
    "Before any test module is imported (some copy `os.environ` for their subprocesses), point `$VAE_NB_CACHE` away."
    config.stash_cache = (os.environ.get("VAE_NB_CACHE"), tempfile.mkdtemp(prefix="vae_nb_cache_"))
    os.environ["VAE_NB_CACHE"] = config.stash_cache[1]

def pytest_unconfigure(config):
    before, ours = config.stash_cache
    shutil.rmtree(ours, ignore_errors=True)
    if before is None: os.environ.pop("VAE_NB_CACHE", None)
    else: os.environ["VAE_NB_CACHE"] = before
