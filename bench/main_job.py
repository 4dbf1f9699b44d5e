"""Wall time of the main job, README's `vae_nb train` with its defaults, as a reader runs it: a fresh process each
time, no OMP_NUM_THREADS in its environment (the process's default threads), outputs in a temporary folder.

    python bench/main_job.py [--runs 3]

Prints, per run, the wall time, the CPU time it used (user + system), the 1-minute load average before and after (the machine may be shared), and the
command's own summary line."""
import argparse, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def cpu() -> float:
    "CPU seconds (user + system) used so far by this process's finished children."
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | {"MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    for i in range(a.runs):
        with tempfile.TemporaryDirectory() as d:
            load, t, c = os.getloadavg()[0], time.perf_counter(), cpu()
            r = subprocess.run([sys.executable, "-m", "vae_nb", "train", "--out", "run"], env=env, cwd=d,
                               capture_output=True, text=True)
            wall, used = time.perf_counter() - t, cpu() - c
            if r.returncode: sys.exit(f"run {i + 1} failed:\n{r.stderr[-2000:]}")
            summary = next(l for l in r.stdout.splitlines() if l.startswith("trained "))
            print(f"run {i + 1}: {wall:.1f} s wall, {used:.1f} s CPU; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; "
                  f"{summary}", flush=True)

if __name__ == "__main__": main()
