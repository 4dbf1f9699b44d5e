"""Wall time of the main job, README's `vae_nb train` with its defaults, as a reader runs it: a fresh process each
time, no OMP_NUM_THREADS in its environment (the process's default threads), outputs in a temporary folder.

    python bench/main_job.py [--runs 3]

Prints, per run, the wall time, the 1-minute load average before and after (the machine may be shared), and the
command's own summary line."""
import argparse, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | {"MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    for i in range(a.runs):
        with tempfile.TemporaryDirectory() as d:
            load, t = os.getloadavg()[0], time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "vae_nb", "train", "--out", "run"], env=env, cwd=d,
                               capture_output=True, text=True)
            wall = time.perf_counter() - t
            if r.returncode: sys.exit(f"run {i + 1} failed:\n{r.stderr[-2000:]}")
            summary = next(l for l in r.stdout.splitlines() if l.startswith("trained "))
            print(f"run {i + 1}: {wall:.1f} s wall; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; "
                  f"{summary}", flush=True)

if __name__ == "__main__": main()
