"README's code runs as pasted: its ```python blocks, in order, in one fresh interpreter (as a reader would paste them)."
import json, os, re, subprocess, sys
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

OUTPUT = re.compile(r'^```python\n(.*?)^```\n\n(?:```\n(.*?)^```\n)?', re.S | re.M)

def readme_blocks_with_outputs(path:Path=ROOT/'README.md') -> list[tuple[str, str|None]]:
    "Each ```python block of README with the plain ``` block printed right after it (None where there is none)."
    return [(code, out or None) for code, out in OUTPUT.findall(path.read_text(encoding='utf-8'))]

# run the blocks as a notebook does: a block's printed text, then the repr of its last line if that is an expression
_RUNNER = '''
import ast, contextlib, io, json, sys
outputs, env = [], {"__name__": "__main__"}
for block in json.loads(sys.stdin.read()):
    tree, buf = ast.parse(block), io.StringIO()
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    with contextlib.redirect_stdout(buf):
        exec(compile(tree, "<readme>", "exec"), env)
        value = None if last is None else eval(compile(ast.Expression(last.value), "<readme>", "eval"), env)
        if value is not None: print(repr(value))
    outputs.append(buf.getvalue())
print(json.dumps(outputs))
'''

def test_readme_printed_outputs_are_reproduced(tmp_path):
    "Every output README prints under a code block is what running its blocks in order prints, character for character."
    pairs = readme_blocks_with_outputs()
    assert sum(out is not None for _, out in pairs) >= 2, "README shows the outputs of at least two blocks"
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MPLBACKEND': 'Agg', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, '-c', _RUNNER], input=json.dumps([c for c, _ in pairs]), capture_output=True,
                       text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.splitlines()[-1])
    for i, ((code, shown), printed) in enumerate(zip(pairs, got), 1):
        if shown is not None: assert printed.rstrip() == shown.rstrip(), f"block {i} prints\n{printed}\nREADME shows\n{shown}"
