#!/usr/bin/env python
"""README.md is generated from nbs/index.ipynb (nbdev_readme needs Quarto, which cannot be installed offline).

python .ci/readme.py            write README.md from nbs/index.ipynb
python .ci/readme.py --check    exit 1 (with a diff) if README.md is out of date
python .ci/readme.py --command main|test
                                print README's main-job or test command: the first and second ```sh blocks
"""
import difflib, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INDEX, README = ROOT/'nbs'/'index.ipynb', ROOT/'README.md'
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*(.*)$')

def directives(src):
    "nbdev directives (`#| hide`, `#| echo: false`, ...) of a code cell, as a set of stripped strings."
    return {m.group(1).strip() for l in src.splitlines() if (m := DIRECTIVE.match(l))}

def output_text(out):
    "The markdown for one code-cell output: markdown as is, text in a fenced block, images left out."
    if out['output_type'] == 'stream': return '```\n' + ''.join(out['text']).rstrip() + '\n```'
    data = out.get('data', {})
    if 'text/markdown' in data: return ''.join(data['text/markdown']).strip()
    if 'text/plain' in data and not any(k.startswith('image/') for k in data):
        return '```\n' + ''.join(data['text/plain']).rstrip() + '\n```'
    return None

_NB_LINK = re.compile(r'(\]\()(?![a-z]+:|/|#)([^)\s]+\.ipynb(?:#[^)\s]*)?)(\))')

def repo_links(md):
    "Links between notebooks are relative to nbs/ in the notebook; in README.md (at the repository root) they get the nbs/ prefix."
    return _NB_LINK.sub(lambda m: m.group(1) + 'nbs/' + m.group(2) + m.group(3), md)

def render(nb):
    "README markdown for the index notebook, the way nbdev_readme shows it: prose, visible code and its outputs."
    parts = [f'<!-- Generated from nbs/index.ipynb by `python .ci/readme.py`: edit the notebook, not this file. -->']
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown':
            parts.append(repo_links(src.strip())); continue
        if cell['cell_type'] != 'code': continue
        flags = directives(src)
        if flags & {'hide', 'include: false'}: continue
        code = '\n'.join(l for l in src.splitlines() if not DIRECTIVE.match(l)).strip()
        if code and 'echo: false' not in flags: parts.append('```python\n' + code + '\n```')
        parts += [t for t in map(output_text, cell.get('outputs', [])) if t]
    return '\n\n'.join(p for p in parts if p) + '\n'

def commands(text):
    "The ```sh blocks of the README, in order."
    return [b.strip() for b in re.findall(r'```sh\n(.*?)```', text, re.S)]

def main(argv):
    text = render(json.loads(INDEX.read_text(encoding='utf-8')))
    if '--command' in argv:
        which = argv[argv.index('--command') + 1]
        cmds = commands(README.read_text(encoding='utf-8'))
        if len(cmds) < 2: sys.exit('README.md must hold two ```sh blocks: the main job, then the tests')
        print(cmds[{'main': 0, 'test': 1}[which]]); return
    if '--check' in argv:
        current = README.read_text(encoding='utf-8') if README.exists() else ''
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True), 'README.md', 'from nbs/index.ipynb'))
            sys.exit('README.md is out of date with nbs/index.ipynb: run `python .ci/readme.py`')
        print('README.md is in sync with nbs/index.ipynb'); return
    README.write_text(text, encoding='utf-8')
    print(f'wrote {README.relative_to(ROOT)}')

if __name__ == '__main__': main(sys.argv[1:])
