"""nbdev's docs processors for `.ci/build_docs.py`, with one difference.

To make the API reference, nbdev runs (in order) every exported cell, every `show_doc` cell and every cell that
holds an import. A cell that mixes imports with other code (nbdev warns: "Found cells containing imports and other
code") is run whole, on its own: a test cell that trains a model takes minutes, and one that uses names defined by
earlier cells fails, which stops `nbdev_docs`. Here only the import statements of such a cell are run (its stored
outputs are shown, as for every cell). Exported cells and `show_doc` cells run as in nbdev and must succeed.
And nbdev links the names in backticks in every line of a `show_doc` output, also inside its fenced signature,
where the link shows as raw markdown (`# a [`VAEBase`](interface.html#vaebase)`); here fenced code is left as is.
`python .ci/build_docs.py --strict` runs nbdev's processors unchanged.
"""
import ast, os, sys
from nbdev.processors import FilterDefaults, NbdevLookup, add_links, exec_show_docs, _do_eval


def _needed(cell) -> bool:
    "Does the API reference depend on running all of this cell?"
    return bool(cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'}) or 'show_doc' in cell.source


def _imports_only(src:str):
    "The import statements of `src` if it also holds other code, else None."
    try: body = ast.parse(src).body
    except SyntaxError: return None  # IPython magics: leave the cell to nbdev
    imps = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
    return '\n'.join(ast.unparse(n) for n in imps) if imps and len(imps) < len(body) else None


class imports_exec_show_docs(exec_show_docs):
    def __call__(self, cell):
        if (cell.cell_type == 'code' and hasattr(self, 'k') and getattr(self.nb, 'has_docs_', False)
                and not _needed(cell) and _do_eval(cell) and (imps := _imports_only(cell.source)) is not None):
            self.k.run(imps)
            if self.k.exc:
                print(f"build_docs: note: {self.nb.path_}: the imports of cell {cell.idx_} fail: {self.k.exc!r}",
                      file=sys.stderr, flush=True)
                self.k.exc = None
            return
        super().__call__(cell)


def link_lines(lines:list[str], link) -> list[str]:
    "`link` applied to each line of markdown `lines` outside fenced code blocks."
    out, code = [], False
    for s in ''.join(lines).splitlines(keepends=True):
        fence = s.lstrip().startswith('```')
        out.append(s if code or fence else link(s))
        if fence: code = not code
    return out


def add_links_outside_code(cell):
    "nbdev's `add_links`, except inside fenced code in outputs (the `show_doc` signatures)."
    nl = NbdevLookup()
    if cell.cell_type == 'markdown': cell.source = nl.linkify(cell.source)
    for o in cell.get('outputs', []):
        if hasattr(o, 'data') and hasattr(o['data'], 'text/markdown'):
            o.data['text/markdown'] = link_lines(o.data['text/markdown'], nl.link_line)


class DocsFilter(FilterDefaults):
    "nbdev's docs processors, with `imports_exec_show_docs` and `add_links_outside_code` unless BUILD_DOCS_STRICT is set."
    def base_procs(self):
        procs = super().base_procs()
        if os.environ.get('BUILD_DOCS_STRICT'): return procs
        swap = {exec_show_docs: imports_exec_show_docs, add_links: add_links_outside_code}
        return [swap.get(p, p) for p in procs]
