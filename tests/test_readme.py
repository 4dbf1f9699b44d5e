"README's code runs as pasted: its ```python blocks, in order, in one fresh interpreter (as a reader would paste them)."
import os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r'^```python\n(.*?)^```', re.S | re.M)

def readme_python_blocks(path:Path=ROOT/'README.md') -> list[str]:
    "The source of every ```python block of README, in order."
    return BLOCK.findall(path.read_text(encoding='utf-8'))

def test_readme_has_python_blocks():
    blocks = readme_python_blocks()
    assert len(blocks) >= 2 and any('import' in b for b in blocks[:1]), "README's first python block must show its imports"

def test_readme_python_blocks_run_in_a_fresh_interpreter(tmp_path):
    "Every block, pasted in order into `python` started in an empty folder; a failure names the block."
    blocks = readme_python_blocks()
    script = "\n".join(f"print('--- block {i}', flush=True)\n{b}" for i, b in enumerate(blocks, 1))
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    last = ([l for l in r.stdout.splitlines() if l.startswith('--- block')] or ['before block 1'])[-1]
    assert r.returncode == 0, f"README {last.removeprefix('--- ')} fails when pasted:\n{r.stderr[-2000:]}"
