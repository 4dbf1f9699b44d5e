#!/usr/bin/env python
"""Build the documentation website into `docs/` offline, from the executed notebooks in `nbs/`.

    pip install -e ".[docs]"
    python .ci/build_docs.py            # writes docs/ (under a minute on 2 cores)
    python .ci/build_docs.py --check    # builds into a temporary folder; exit 1 if docs/ differs from it
    python .ci/build_docs.py --out DIR  # builds into DIR instead of docs/
    python .ci/build_docs.py --strict   # nbdev's processors unchanged, and any Sphinx warning fails

Quarto (which `nbdev_docs` needs) cannot be installed from a package registry, so this builds the same site from
PyPI packages alone:

1. nbdev's own notebook processors (what `nbdev_proc_nbs` runs for Quarto; see .ci/docs_procs.py for the one
   difference) make a copy of every notebook with the `show_doc` API reference inserted, `#| hide` / `#| export`
   cells removed and symbol names linked;
2. those copies are turned into myst-nb notebooks: the front matter becomes the page title, Quarto cell options
   (`#| echo: false`, ...) become myst-nb tags, links between pages point at the built pages;
3. Sphinx + myst-nb + the Furo theme render them with the stored outputs (nothing is executed), with the sidebar
   of `nbs/sidebar.yml` (`.ci/make_sidebar.py`) and MathJax served from the site itself (no CDN).

Page names follow nbdev's: `nbs/00_core.ipynb` -> `core.html`, `nbs/tutorials/x.ipynb` -> `tutorials/x.html`.
"""
from __future__ import annotations
import argparse, configparser, filecmp, html, json, os, re, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_sidebar  # noqa: E402

CONF = """\
# Sphinx configuration written by .ci/build_docs.py: edit that script, not this file.
project = {title!r}
author = {author!r}
copyright = {copyright!r}
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"
nb_execution_mode = "off"            # the notebooks are committed executed: render their stored outputs
nb_render_markdown_format = "myst"   # show_doc output is markdown with math and tables
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image"]
myst_dmath_double_inline = True
myst_all_links_external = True       # build_docs.py has already turned links between pages into .html paths
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
html_theme = "furo"
html_title = {title!r}
html_static_path = ["_static"]
html_css_files = ["vae_nb_docs.css"]
html_favicon = "_static/favicon.svg"  # else browsers ask for /favicon.ico
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {{"top_of_page_buttons": [], "navigation_with_keys": True}}
mathjax_path = "mathjax/tex-chtml.js"  # bundled from the django-static-mathjax wheel (MathJax 3.2.2)
mathjax3_config = {{"options": {{"menuOptions": {{"settings": {{"assistiveMml": False}}}}}}}}
"""

CSS = """\
/* .ci/build_docs.py: show_doc output as nbdev shows it */
a.nbdev-source { float: right; font-size: smaller; }
.cell_output h2, .cell_output h3, .cell_output h4 { margin-top: .5rem; }
.cell_output hr { margin: 1.5rem 0 .5rem; }
.page-description { font-style: italic; font-size: 120%; opacity: .75; border-left: none; padding-left: 0; margin-left: 0; }
/* long lines: code scrolls sideways instead of being clipped; printed output wraps */
div.highlight, div.highlight pre { overflow-x: auto; }
div.cell_output .output.stream pre, div.cell_output .output.text_plain pre { white-space: pre-wrap; overflow-wrap: anywhere; }
"""

FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
           'fill="#2962ff"/><text x="8" y="12" font-size="11" font-family="sans-serif" text-anchor="middle" '
           'fill="#fff">v</text></svg>\n')

# MathJax 3 files the site needs: the combined TeX->CommonHTML component, the TeX extensions it autoloads,
# its web fonts, and the menu/accessibility modules the menu loads on request.
MATHJAX_PARTS = ["tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y", "../LICENSE"]

_re_link = re.compile(r'(\]\()([^)\s]+)(\))')
_re_href = re.compile(r'((?:href|src)=")([^"]+)(")')
_re_source = re.compile(r'\[source\]\(([^)\s]+)\)\{[^}]*\}')
_re_callout = re.compile(r'^(\s*:::+\s*)\{\.callout-(note|tip|warning|important|caution)\}', re.M)
_re_rule = re.compile(r'^---[ \t]*\n', re.M)
_re_heading = re.compile(r'^(#{1,6}) +(.+?)\s*$', re.M)
_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_CALLOUT_MYST = {'note': 'note', 'tip': 'tip', 'warning': 'warning', 'important': 'important', 'caution': 'caution'}


class BuildError(RuntimeError): "A notebook or page that stops the build."


def settings() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(delimiters=['='])
    cp.read(ROOT/'settings.ini', encoding='utf-8')
    return cp['DEFAULT']


def page_of(rel:PurePosixPath) -> PurePosixPath:
    "The built page of notebook `rel` (relative to nbs/), named as nbdev/Quarto name it."
    from nbdev.doclinks import _nbpath2html
    return PurePosixPath(_nbpath2html(Path(rel)).as_posix())


def _relurl(target:PurePosixPath, frm:PurePosixPath) -> str:
    "URL of site path `target` relative to the folder of page `frm`."
    return os.path.relpath(str(target), str(frm.parent) if str(frm.parent) != '' else '.').replace(os.sep, '/')


class LinkFixer:
    "Rewrites a page's links: nbdev's absolute doc links and links to notebooks become relative .html links."
    def __init__(self, site_url:str, page:PurePosixPath, rel:PurePosixPath):
        self.site, self.page, self.rel = site_url.rstrip('/') + '/', page, rel

    def url(self, u:str) -> str:
        if u.startswith(self.site):
            path, _, frag = u[len(self.site):].partition('#')
            new = _relurl(PurePosixPath(path or 'index.html'), self.page)
            return new + ('#' + frag if frag else '')
        if re.match(r'^[a-z][a-z0-9+.-]*:', u, re.I) or u.startswith(('#', '/')): return u
        path, _, frag = u.partition('#')
        if path.endswith(('.ipynb', '.qmd')):  # a link to another notebook, relative to this one
            target = PurePosixPath(os.path.normpath(str(self.rel.parent/path)).replace(os.sep, '/'))
            new = _relurl(page_of(target), self.page)
            return new + ('#' + frag if frag else '')
        return u

    def __call__(self, md:str) -> str:
        md = _re_source.sub(lambda m: f'<a class="nbdev-source" href="{html.escape(self.url(m.group(1)))}" '
                                      f'target="_blank" rel="noopener">source</a>', md)
        md = _re_link.sub(lambda m: m.group(1) + self.url(m.group(2)) + m.group(3), md)
        return _re_href.sub(lambda m: m.group(1) + self.url(m.group(2)) + m.group(3), md)


def _src(x) -> str: return ''.join(x) if isinstance(x, list) else (x or '')


def _anchor_headings(md:str) -> str:
    "Give each show_doc heading the anchor nbdev links to (`name.lower()`), next to the id Sphinx makes."
    return _re_heading.sub(lambda m: f'<span id="{html.escape(m.group(2).strip("`").lower())}"></span>\n\n'
                                     f'{m.group(1)} {m.group(2)}', md)


def convert(nb:dict, rel:PurePosixPath, site_url:str, stored:dict|None=None) -> dict:
    """Turn a notebook processed by nbdev (for Quarto) into one myst-nb renders the same way.

    `stored`: outputs by cell id from the notebook in nbs/; nbdev re-runs cells with imports to make the API
    reference, and those keep their stored outputs, so that the site shows what the committed notebook shows."""
    stored = stored or {}
    page = page_of(rel)
    fix = LinkFixer(site_url, page, rel)
    cells, fm = [], {}
    for i, c in enumerate(nb['cells']):
        src = _src(c.get('source'))
        if c['cell_type'] == 'raw':
            if i == 0 and src.lstrip().startswith('---'):
                import yaml
                fm = yaml.safe_load(src.strip().strip('-')) or {}
            continue  # Quarto raw cells have no meaning here
        if c['cell_type'] == 'markdown':
            c['source'] = fix(_re_callout.sub(lambda m: m.group(1) + '{' + _CALLOUT_MYST[m.group(2)] + '}', src))
        elif c['cell_type'] == 'code':
            lines, opts = src.splitlines(), {}
            while lines and (m := _re_directive.match(lines[0])):
                opts[m.group(1)] = m.group(2).strip('"\''); lines.pop(0)
            c['source'] = '\n'.join(lines)
            if c.get('id') in stored and 'show_doc' not in c['source']: c['outputs'] = stored[c['id']]
            tags = set(c.setdefault('metadata', {}).get('tags', []))
            if opts.get('echo') == 'false' or not c['source'].strip(): tags.add('remove-input')
            if opts.get('output') == 'false': tags.add('remove-output')
            if opts.get('include') == 'false': tags.add('remove-cell')
            if opts.get('code-fold') == 'true': tags.add('hide-input')
            c['metadata']['tags'] = sorted(tags)
            for o in c.get('outputs', []):
                if 'text/markdown' in o.get('data', {}):
                    md = _anchor_headings(fix(_src(o['data']['text/markdown'])))
                    o['data']['text/markdown'] = _re_rule.sub('<hr class="nbdev-rule">\n', md)  # docutils: no bare rules here
                    o['data'].pop('text/plain', None)
            if 'remove-input' in tags and not c.get('outputs'): continue
        cells.append(c)
    title = fm.get('title') or rel.stem
    head = f"# {title}\n"
    if fm.get('description'): head += f"\n> {fm['description']}\n"
    cells.insert(0, {'cell_type': 'markdown', 'metadata': {}, 'source': head})
    nb['cells'] = cells
    nb['metadata'] = {k: v for k, v in nb.get('metadata', {}).items() if k in ('kernelspec', 'language_info', 'widgets')}
    nb['metadata'].setdefault('language_info', {'name': 'python'})
    return nb


def toctree(caption:str, docnames:list[str]) -> str:
    return "```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(docnames) + "\n```\n"


def build(out:Path, workers:int=2, strict:bool=False, keep_going:bool=False, quiet:bool=False,
          write_sidebar:bool=True) -> list[str]:
    "Build the site into `out` (replacing it); return Sphinx's warnings."
    t0 = time.time()
    say = (lambda *a: None) if quiet else (lambda *a: print('build_docs:', *a, flush=True))
    cfg, nbs = settings(), ROOT/'nbs'
    site_url = cfg['doc_host'].rstrip('/') + cfg.get('doc_baseurl', '')
    if write_sidebar: make_sidebar.main([])  # keeps nbs/sidebar.yml current, as nbdev_docs does
    side = make_sidebar.sidebar()['website']['sidebar']['contents']
    sections = [(s['section'], [PurePosixPath(p) for p in s['contents']]) for s in side if isinstance(s, dict)]
    notebooks = [PurePosixPath(p) for p in side if isinstance(p, str)] + [p for _, ps in sections for p in ps]

    work = Path(tempfile.mkdtemp(prefix='vae_nb_docs_'))
    try:
        proc, src = work/'proc', work/'src'
        for d in (proc, src): d.mkdir()
        # files the pages may show (images next to the notebooks), then the notebooks
        for f in nbs.rglob('*'):
            r = f.relative_to(nbs)
            if f.is_file() and f.suffix not in ('.ipynb', '.yml', '.css') and not any(p.startswith(('_', '.')) for p in r.parts):
                (src/r).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, src/r)
        jobs = [(str(nbs/p), str(proc/p)) for p in notebooks if p.suffix == '.ipynb']
        for _, d in jobs: Path(d).parent.mkdir(parents=True, exist_ok=True)
        errors, cwd = [], os.getcwd()
        saved = {k: os.environ.get(k) for k in ('BUILD_DOCS_STRICT', 'PYTHONWARNINGS')}
        os.chdir(ROOT)  # nbdev reads settings.ini from the working folder (and so do its worker processes)
        try:  # one fresh process per notebook, as nbdev_proc_nbs runs them
            from nbdev.serve_drv import main as proc_nb
            from docs_procs import DocsFilter  # nbdev's processors; see .ci/docs_procs.py
            os.environ['PYTHONWARNINGS'] = 'ignore::UserWarning'  # nbdev's "imports and other code" warnings
            if strict: os.environ['BUILD_DOCS_STRICT'] = '1'
            with ProcessPoolExecutor(max(1, min(workers, len(jobs))), mp_context=get_context('spawn')) as ex:
                futs = {s: ex.submit(proc_nb, (Path(s), Path(d), DocsFilter)) for s, d in jobs}
                for s, f in futs.items():
                    if f.exception(): errors.append(f"{Path(s).relative_to(ROOT)}: {type(f.exception()).__name__}: {f.exception()}")
        finally:
            os.chdir(cwd)
            for k, v in saved.items():
                if v is None: os.environ.pop(k, None)
                else: os.environ[k] = v
        if errors and not keep_going:
            raise BuildError("nbdev could not process (an exported or show_doc cell fails when nbdev runs "
                             "it to make the API reference):\n  " + "\n  ".join(errors))
        for e in errors: say('LEFT OUT:', e)
        broken = {PurePosixPath(e.split(':')[0]).relative_to('nbs') for e in errors}
        sections = [(cap, [p for p in ps if p not in broken]) for cap, ps in sections]
        sections = [(cap, ps) for cap, ps in sections if ps]
        notebooks = [p for p in notebooks if p not in broken]
        say(f"nbdev processed {len(jobs)} notebooks in {time.time()-t0:.0f}s")

        docnames = {}
        for p in notebooks:
            if p.suffix != '.ipynb': continue  # .qmd pages need Quarto
            orig = json.loads((nbs/p).read_text(encoding='utf-8'))
            stored = {c['id']: c.get('outputs', []) for c in orig['cells'] if c['cell_type'] == 'code' and 'id' in c}
            nb = convert(json.loads((proc/p).read_text(encoding='utf-8')), p, site_url, stored)
            doc = page_of(p).with_suffix('')
            docnames[p] = str(doc)
            if str(doc) == 'index':
                nb['cells'].append({'cell_type': 'markdown', 'metadata': {}, 'source': '\n'.join(
                    toctree(cap, [docnames.get(q) or str(page_of(q).with_suffix('')) for q in ps]) for cap, ps in sections)})
            (src/doc).parent.mkdir(parents=True, exist_ok=True)
            (src/doc).with_suffix('.ipynb').write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')
        if 'index' not in docnames.values():  # no nbs/index.ipynb yet: the README is the home page
            toc = '\n'.join(toctree(cap, [str(page_of(q).with_suffix('')) for q in ps]) for cap, ps in sections)
            (src/'index.md').write_text((ROOT/'README.md').read_text(encoding='utf-8') + '\n' + toc, encoding='utf-8')

        import mathjax  # django-static-mathjax: MathJax 3.2.2 as package data
        mj = Path(mathjax.__path__[0])/'static'/'mathjax'/'es5'
        static = src/'_static'
        for part in MATHJAX_PARTS:
            dst = static/'mathjax'/Path(part).name if part.startswith('..') else static/'mathjax'/part
            dst.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if (mj/part).is_dir() else shutil.copy2)(mj/part, dst)
        (static/'vae_nb_docs.css').write_text(CSS)
        (static/'favicon.svg').write_text(FAVICON)
        (src/'conf.py').write_text(CONF.format(title=cfg.get('title', cfg['lib_name']), author=cfg['author'],
                                               copyright=cfg['copyright']))

        html_dir, warn_file = work/'html', work/'warnings.txt'
        cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-d', str(work/'doctrees'), '-w', str(warn_file),
               '-j', '1', str(src), str(html_dir)] + (['-W', '--keep-going'] if strict else [])
        env = {**os.environ, 'PYTHONHASHSEED': '0'}
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        warnings = [l for l in warn_file.read_text().splitlines() if l.strip()] if warn_file.exists() else []
        warnings = [l.replace(str(src) + os.sep, '') for l in warnings]
        for w in warnings: say('warning:', w)
        if res.returncode: raise BuildError(f"sphinx failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        for junk in ('.buildinfo', '.buildinfo.bak', 'objects.inv'):
            (html_dir/junk).unlink(missing_ok=True)
        if (html_dir/'_sources').exists() and not any((html_dir/'_sources').iterdir()): (html_dir/'_sources').rmdir()
        (html_dir/'.nojekyll').write_text('')  # GitHub Pages: serve _static/ and _images/ as they are
        if out.exists(): shutil.rmtree(out)
        shutil.copytree(html_dir, out)
    finally:
        if os.environ.get('BUILD_DOCS_KEEP'): say('kept', work)
        else: shutil.rmtree(work, ignore_errors=True)
    say(f"{len(docnames) or 1} pages in {out} ({time.time()-t0:.0f}s)")
    return warnings


def _diff(a:Path, b:Path) -> list[str]:
    "Paths that differ between folder trees `a` and `b`."
    fa = {p.relative_to(a) for p in a.rglob('*') if p.is_file()} if a.exists() else set()
    fb = {p.relative_to(b) for p in b.rglob('*') if p.is_file()}
    out = [f"only in {a.name}/: {p}" for p in sorted(fa - fb)] + [f"missing from {a.name}/: {p}" for p in sorted(fb - fa)]
    return out + [f"differs: {p}" for p in sorted(fa & fb) if not filecmp.cmp(a/p, b/p, shallow=False)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build the documentation website offline (nbdev + Sphinx/myst-nb).")
    ap.add_argument('--out', type=Path, help="output folder (default: doc_path of settings.ini, i.e. docs/)")
    ap.add_argument('--check', action='store_true', help="build into a temporary folder; exit 1 if docs/ differs")
    ap.add_argument('--strict', action='store_true', help="fail on any Sphinx warning")
    ap.add_argument('--keep-going', action='store_true', help="leave out notebooks nbdev cannot process (and say so)")
    ap.add_argument('--workers', type=int, default=2, help="processes for nbdev's notebook processing")
    args = ap.parse_args(argv)
    try: return _run(args)
    except BuildError as e:
        print(f"build_docs: {e}", file=sys.stderr)
        return 1


def _run(args) -> int:
    docs = ROOT/settings().get('doc_path', 'docs')
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp)/'site', args.workers, args.strict, args.keep_going, write_sidebar=False)
            diff = _diff(docs, Path(tmp)/'site')
        for d in diff[:50]: print('build_docs --check:', d, file=sys.stderr)
        if diff: print(f"{docs.name}/ is out of date ({len(diff)} files): run `python .ci/build_docs.py`", file=sys.stderr)
        return 1 if diff else 0
    build((args.out or docs).resolve(), args.workers, args.strict, args.keep_going)
    return 0


if __name__ == '__main__': sys.exit(main())
