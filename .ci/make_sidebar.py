#!/usr/bin/env python
"""Write `nbs/sidebar.yml` (Quarto's sidebar, nbdev 2 conventions) from the notebooks present in `nbs/`.

The sidebar groups the pages by topic; a notebook's group follows from its number (the module map):
`nbs/tutorials/` Tutorials (first, so that the home page leads to the first tutorial), 00-02 Concepts,
06 (and 06a_, 06b_, ...) Variants, 07 Estimator, 03/05/09 Training & CLI, 04/08 Evaluation. `python .ci/build_docs.py` reads the same file, so the offline site and
`nbdev_docs` (with Quarto) show the same sidebar.

    python .ci/make_sidebar.py          # (re)write nbs/sidebar.yml
    python .ci/make_sidebar.py --check  # exit 1 if nbs/sidebar.yml is not what the notebooks give
"""
from __future__ import annotations
import argparse, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'
SIDEBAR = NBS/'sidebar.yml'

GROUPS = ["Tutorials", "Concepts", "Variants", "Estimator", "Training & CLI", "Evaluation"]  # tutorials first: the home page's "Next" is the first tutorial
BY_NUMBER = {0: "Concepts", 1: "Concepts", 2: "Concepts", 3: "Training & CLI", 4: "Evaluation", 5: "Training & CLI",
             6: "Variants", 7: "Estimator", 8: "Evaluation", 9: "Training & CLI"}
OTHER = "More"  # a notebook whose number is not in the map lands here (and a warning says so)
# The learning path: tutorials without a number prefix are ordered by the first of these their file name matches.
LEARNING_PATH = ["first", "beta", "hierarch", "vq|discrete", "condition", "diffusion|latent", "estimator|sklearn|pipeline", "likelihood"]
_re_num = re.compile(r'^(\d+)[a-zA-Z0-9]*_')
_skip_dir = re.compile(r'^[_.]')


def _doc_files(nbs:Path=NBS) -> list[Path]:
    "Notebooks (and .qmd/.md pages) under `nbs`, relative to it, skipping `_*`/`.*` folders and checkpoints."
    return sorted(p.relative_to(nbs) for p in nbs.rglob('*') if p.suffix in ('.ipynb', '.qmd') and p.is_file()
                  and not any(_skip_dir.match(part) for part in p.relative_to(nbs).parts[:-1]))


def _tutorial_key(p:Path):
    m = _re_num.match(p.name)
    if m: return (0, int(m.group(1)), p.name)
    rank = next((i for i, pat in enumerate(LEARNING_PATH) if re.search(pat, p.stem, re.I)), len(LEARNING_PATH))
    return (1, rank, p.name)


def group_of(p:Path) -> str:
    "The sidebar section of notebook `p` (a path relative to nbs/)."
    if p.parts[0] == 'tutorials': return "Tutorials"
    m = _re_num.match(p.name)
    return BY_NUMBER.get(int(m.group(1)), OTHER) if m else OTHER


def sidebar(nbs:Path=NBS) -> dict:
    "The sidebar as a dict: `index` first, then one section per non-empty group, in `GROUPS` order."
    files = [p for p in _doc_files(nbs) if p.stem != 'index' or len(p.parts) > 1]
    groups: dict[str, list[Path]] = {}
    for p in files: groups.setdefault(group_of(p), []).append(p)
    for g in set(groups) - set(GROUPS):
        print(f"make_sidebar: no group for {[str(p) for p in groups[g]]}: listed under {g!r}", file=sys.stderr)
    contents: list = [p.name for p in _doc_files(nbs) if p.stem == 'index' and len(p.parts) == 1]
    for g in GROUPS + [OTHER]:
        if g not in groups: continue
        ps = sorted(groups[g], key=_tutorial_key) if g == "Tutorials" else sorted(groups[g])
        contents.append({'section': g, 'contents': [p.as_posix() for p in ps]})
    return {'website': {'sidebar': {'contents': contents}}}


def to_yaml(d:dict) -> str:
    "YAML exactly as `nbdev_sidebar` indents it."
    import yaml
    from nbdev.quarto import IndentDumper
    return yaml.dump(d, Dumper=IndentDumper, sort_keys=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help="don't write; exit 1 if nbs/sidebar.yml is out of date")
    args = ap.parse_args(argv)
    want = to_yaml(sidebar())
    have = SIDEBAR.read_text() if SIDEBAR.exists() else None
    if args.check:
        if have == want: return 0
        print(f"{SIDEBAR.relative_to(ROOT)} is out of date: run `python .ci/make_sidebar.py`", file=sys.stderr)
        return 1
    if have != want:
        SIDEBAR.write_text(want)
        print(f"wrote {SIDEBAR.relative_to(ROOT)}")
    return 0


if __name__ == '__main__': sys.exit(main())
