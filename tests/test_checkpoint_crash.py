"What `kill -9` inside `save_checkpoint` leaves behind, and how the next start repairs it: the JSON copy agrees with the checkpoint, and no temporary file of a dead writer stays."
import json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
from vae_nb.checkpoint import read_metadata, recover_checkpoint

WRITER = textwrap.dedent('''
    import sys, torch
    from torch import nn
    from vae_nb.checkpoint import save_checkpoint
    torch.set_num_threads(1)
    model, step = nn.Linear(256, 256), 0
    print("ready", flush=True)
    while True:   # checkpoints as fast as it can, until killed
        step += 1
        save_checkpoint(sys.argv[1], model, meta={"step": step, "run": sys.argv[2]})
''')

@pytest.mark.parametrize("kill", range(6))
def test_kill_during_save_is_repaired(tmp_path, kill):
    "A writer killed at a random moment of its save loop: after `recover_checkpoint` the pair agrees and no `.tmp` file is left."
    path = tmp_path / "checkpoint.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"run{kill}"], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "ready"
    deadline = time.time() + 30
    while not path.with_suffix(".json").exists() and time.time() < deadline: time.sleep(0.01)   # at least one complete save
    time.sleep(0.05 + 0.037 * kill)
    p.send_signal(signal.SIGKILL); p.wait()
    recover_checkpoint(path)
    meta = read_metadata(path)
    assert meta["run"] == f"run{kill}" and meta["step"] >= 1
    assert json.loads(path.with_suffix(".json").read_text()) == meta
    assert [q.name for q in tmp_path.iterdir() if q.name.endswith(".tmp")] == []
