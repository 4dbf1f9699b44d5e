"""The documentation website in a real browser: build it (`.ci/build_docs.py`), serve it on localhost, open every
page in headless Chromium and fail on a missing page, a broken internal link, anchor or image, an uncaught
JavaScript error, unrendered math or any request that leaves the site. Screenshots of the home page and of a
tutorial are saved (the folder is printed).

Needs the docs extra (`pip install -e ".[docs]"`) and Debian's Chromium:
`apt-get update && apt-get install -y chromium chromium-driver`. Without them the test skips, saying why, except
under CI (`CI` set), where they must be there and it fails instead.

    pytest tests/test_docs.py                      # builds the site into a temporary folder (about two minutes)
    VAE_NB_DOCS_SITE=docs pytest tests/test_docs.py  # checks a site already built (e.g. by .ci/build_docs.py)
    VAE_NB_DOCS_SCREENSHOTS=DIR ...                # where screenshots go (default: tmp/docs-screenshots)
"""
from __future__ import annotations
import functools, http.server, importlib.util, os, re, shutil, socketserver, sys, tempfile, threading
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit, unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = shutil.which('chromium') or '/usr/bin/chromium', shutil.which('chromedriver') or '/usr/bin/chromedriver'
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--disable-dev-shm-usage', '--window-size=1280,1600']


def _unavailable(why:str):
    "Skip, saying what is missing, but fail under CI, which must provide it."
    if os.environ.get('CI'): pytest.fail(f"{why} (CI must install it: see tests/test_docs.py)")
    pytest.skip(why)


def _load_tool(name:str):
    spec = importlib.util.spec_from_file_location(name, ROOT/'.ci'/f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT/'.ci'))
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def site(tmp_path_factory) -> Path:
    "The built site: VAE_NB_DOCS_SITE if set, else a fresh build."
    if os.environ.get('VAE_NB_DOCS_SITE'):
        path = Path(os.environ['VAE_NB_DOCS_SITE'])
        assert (path/'index.html').exists(), f"VAE_NB_DOCS_SITE={path} holds no index.html"
        return path.resolve()
    for mod in ('sphinx', 'myst_nb', 'furo', 'mathjax'):
        if importlib.util.find_spec(mod) is None: _unavailable(f"docs packages missing ({mod}): pip install -e \".[docs]\"")
    out = tmp_path_factory.mktemp('docs')/'site'
    _load_tool('build_docs').build(out, quiet=True)
    return out


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@pytest.fixture(scope='module')
def server(site):
    "Serve the site on 127.0.0.1 (as GitHub Pages would serve docs/); record every request and its status."
    log = []
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code='-', size='-'): log.append((unquote(urlsplit(self.path).path), int(code)))
        def log_message(self, *a): pass
    httpd = _Server(('127.0.0.1', 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/', log
    httpd.shutdown(); httpd.server_close()


@pytest.fixture(scope='module')
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        _unavailable("Chromium not found: apt-get update && apt-get install -y chromium chromium-driver")
    if importlib.util.find_spec('selenium') is None: _unavailable("selenium missing: pip install -e \".[docs]\"")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ.setdefault('SE_OFFLINE', 'true')  # Selenium Manager must never download a driver or a browser
    profile = tempfile.mkdtemp(prefix='vae_nb_chromium_')
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in CHROMIUM_FLAGS + [f'--user-data-dir={profile}']: opts.add_argument(f)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    # collect uncaught errors and failed loads from the first script on
    driver.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument', {'source': """
        window.__errors = [];
        window.addEventListener('error', e => window.__errors.push(e.target && e.target !== window && (e.target.src || e.target.href)
            ? 'failed to load ' + (e.target.src || e.target.href) : 'uncaught ' + e.message + ' at ' + e.filename + ':' + e.lineno), true);
        window.addEventListener('unhandledrejection', e => window.__errors.push('unhandled rejection: ' + e.reason));"""})
    driver.execute_cdp_cmd('Network.enable', {})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _expected_pages() -> list[str]:
    "Every page the notebooks in nbs/ should give (per nbs/sidebar.yml and the notebooks present)."
    ms, bd = _load_tool('make_sidebar'), _load_tool('build_docs')
    side = ms.sidebar()['website']['sidebar']['contents']
    nbs = [p for p in side if isinstance(p, str)] + [p for s in side if isinstance(s, dict) for p in s['contents']]
    return ['index.html'] + [str(bd.page_of(PurePosixPath(p))) for p in nbs if p.endswith('.ipynb')]


_PAGE_STATE = """
const done = arguments[arguments.length - 1];
// MathJax loads its components after the page's load event: on a page with math, wait (up to 20 s) for its startup promise
const hasMath = document.querySelector('.math') !== null, t0 = Date.now();
const started = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
const ready = () => (started() || !hasMath || Date.now() - t0 > 20000) ? Promise.resolve() : new Promise(r => setTimeout(r, 50)).then(ready);
let mj;
ready().then(() => { mj = started(); return mj || Promise.resolve(); }).then(() => {
  const skip = 'pre, code, script, style, mjx-container, textarea, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest(skip)) continue;
    const t = n.textContent;
    if (/\\$\\$|\\\\\\(|\\\\\\[|\\\\begin\\{|\\$\\\\[a-zA-Z]/.test(t)) raw.push(t.trim().slice(0, 120));
  }
  const math = [...document.querySelectorAll('.math')];
  done({
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    images: [...document.querySelectorAll('img')].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id).concat([...document.querySelectorAll('a[name]')].map(e => e.name)),
    math: math.length,
    typeset: math.filter(e => e.querySelector('mjx-container')).length,
    merror: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 120)),
    mathjax: !!mj,
    raw: raw,
    errors: window.__errors || [],
    h1: (document.querySelector('h1') || {}).textContent || '',
  });
}, e => done({fatal: 'MathJax failed: ' + e}));
"""


def _requests(driver) -> list[str]:
    "URLs the browser asked for since the last call (from Chromium's network log)."
    import json
    urls = []
    for entry in driver.get_log('performance'):
        msg = json.loads(entry['message'])['message']
        if msg['method'] == 'Network.requestWillBeSent': urls.append(msg['params']['request']['url'])
    return urls


def _screenshots_dir() -> Path:
    d = Path(os.environ.get('VAE_NB_DOCS_SCREENSHOTS', ROOT/'tmp'/'docs-screenshots'))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _report(capsys, line:str):
    with capsys.disabled(): print('\n' + line)


def _source_ids(path:Path) -> set[str]:
    "The ids and anchor names written in a page's HTML (a static site: the browser's count can miss a page that loaded slowly)."
    return set(re.findall(r'\s(?:id|name)="([^"]+)"', path.read_text(encoding='utf-8')))


def test_every_page_in_the_browser(site, server, browser, capsys):
    base, log = server
    origin = urlsplit(base)
    problems: list[str] = []
    pages = sorted(str(p.relative_to(site).as_posix()) for p in site.rglob('*.html'))
    problems += [f"missing page: {p} (from the notebooks in nbs/)" for p in _expected_pages() if p not in pages]
    ids, links = {}, []
    for page in pages:
        browser.get_log('browser'); _requests(browser)  # start each page with empty logs
        browser.get(urljoin(base, page))
        st = browser.execute_async_script(_PAGE_STATE)
        if 'fatal' in st: problems.append(f"{page}: {st['fatal']}"); continue
        ids[page] = set(st['ids'])
        links += [(page, l) for l in st['links']]
        problems += [f"{page}: broken image {i['src']}" for i in st['images'] if not i['ok']]
        problems += [f"{page}: JavaScript: {e}" for e in st['errors']]
        problems += [f"{page}: console error: {e['message']}" for e in browser.get_log('browser') if e['level'] == 'SEVERE']
        problems += [f"{page}: unrendered math: {t!r}" for t in st['raw']]
        problems += [f"{page}: MathJax error: {t!r}" for t in st['merror']]
        if st['math'] and (not st['mathjax'] or st['typeset'] < st['math']):
            problems.append(f"{page}: {st['math'] - st['typeset']} of {st['math']} math elements not typeset by MathJax")
        for u in _requests(browser):
            s = urlsplit(u)
            if s.scheme not in ('data', 'blob', 'about', 'chrome') and (s.scheme, s.netloc) != (origin.scheme, origin.netloc):
                problems.append(f"{page}: external request {u}")
        if page == 'index.html':
            shot = _screenshots_dir()/'home.png'
            browser.save_screenshot(str(shot))
            _report(capsys, f"docs screenshot: {shot}")
    for page, link in links:  # internal links: the target page exists and so does the anchor
        s = urlsplit(link)
        if (s.scheme, s.netloc) != (origin.scheme, origin.netloc): continue
        target = unquote(s.path).lstrip('/') or 'index.html'
        if target.endswith('/'): target += 'index.html'
        if not (site/target).exists(): problems.append(f"{page}: broken link {link}")
        elif s.fragment and target in ids and unquote(s.fragment) not in ids[target] | _source_ids(site/target):
            problems.append(f"{page}: broken anchor {link}")
    problems += [f"HTTP {code} for {path}" for path, code in log if code >= 400]
    assert not problems, f"{len(problems)} problems in the site:\n" + "\n".join(sorted(set(problems)))
    assert len(pages) >= len(_expected_pages())


def test_tutorial_screenshot(site, server, browser, capsys):
    tutorials = sorted((site/'tutorials').glob('*.html')) if (site/'tutorials').exists() else []
    if not tutorials:
        if any((ROOT/'nbs'/'tutorials').glob('*.ipynb')): pytest.fail("nbs/tutorials/ has notebooks but the site has no tutorial pages")
        pytest.skip("no tutorials in nbs/tutorials/ yet")
    tutorials.sort(key=lambda t: t.stem != 'first_vae')   # the first tutorial of the learning path, if there
    base, _ = server
    browser.get(urljoin(base, tutorials[0].relative_to(site).as_posix()))
    st = browser.execute_async_script(_PAGE_STATE)
    assert st.get('h1'), f"{tutorials[0].name} has no title"
    shot = _screenshots_dir()/'tutorial.png'
    browser.save_screenshot(str(shot))
    _report(capsys, f"docs screenshot: {shot} ({tutorials[0].relative_to(site)})")
    assert shot.stat().st_size > 10_000


def test_home_page_leads_to_first_tutorial(site):
    "The home page's \"Next\" link goes to the first tutorial (the sidebar lists the tutorials first: `.ci/make_sidebar.py`)."
    import re
    nxt = re.search(r'<a[^>]*class="next-page"[^>]*href="([^"]+)"|<a[^>]*href="([^"]+)"[^>]*class="next-page"', (site/'index.html').read_text(encoding='utf-8'))
    assert nxt, "index.html has no next-page link"
    assert (nxt.group(1) or nxt.group(2)).split('#')[0] == 'tutorials/first_vae.html', f"the home page's Next goes to {nxt.group(1) or nxt.group(2)}"


# the machine that ran a notebook or built the site: its absolute paths (this checkout, the home and temporary folders,
# the usual roots of build machines) and references to the project's internal tracker ("issue 13"), which a reader
# of the site cannot follow
def _machine_paths() -> list[str]:
    "Absolute path prefixes of this machine, and the roots build machines commonly use."
    import tempfile
    mine = {str(ROOT), str(Path.home()), tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir())}
    return sorted({p.rstrip('/') + '/' for p in mine if p not in ('/', '')} | {'/work/', '/tmp/', '/root/', '/home/'})

_INTERNAL = re.compile(r'\b(?:issue|PR|pull request|ticket)\s*#?\d+\b', re.I)

def _leaks(text:str) -> list[str]:
    "Each machine path or internal reference in `text`, with a little context."
    found = []
    for prefix in _machine_paths():
        for m in re.finditer(r'(?<![\w.~-])' + re.escape(prefix), text): found.append(text[max(0, m.start() - 40):m.end() + 40])
    found += [text[max(0, m.start() - 40):m.end() + 20] for m in _INTERNAL.finditer(text)]
    return found

def _notebook_text(path:Path) -> str:
    "A notebook's sources and its text outputs (not images), as they are published."
    import json
    parts = []
    for c in json.loads(path.read_text(encoding='utf-8'))['cells']:
        parts.append(''.join(c['source']))
        for o in c.get('outputs', []):
            parts.append(''.join(o.get('text', '')) + ' '.join(
                ''.join(v) if isinstance(v, list) else str(v) for k, v in o.get('data', {}).items() if not k.startswith('image/')))
    return '\n'.join(parts)

def test_leak_finder_finds_leaks():
    import tempfile
    assert _leaks(f"outputs in {tempfile.gettempdir()}/tmpab12/conv/") and _leaks(f"data in {ROOT}/x.npz")
    assert _leaks("as measured in issue 13") and _leaks("(#12, PR 7)")
    assert not _leaks("vae_nb train --out runs/x, data in ../shared/data (see the issues on GitHub)")

def test_notebooks_show_no_machine_path_or_internal_reference():
    "What the site is built from (every notebook's prose, code and outputs) names no path of this machine and no issue."
    found = {str(p.relative_to(ROOT)): leaks[:3] for p in sorted((ROOT/'nbs').rglob('*.ipynb'))
             if '.ipynb_checkpoints' not in p.parts and (leaks := _leaks(_notebook_text(p)))}
    assert not found, f"machine paths or internal references in {len(found)} notebooks: {found}"

def test_site_shows_no_machine_path_or_internal_reference(site):
    "The built site (its pages and search index) names no path of the machine that built it and no internal issue."
    found = {str(p.relative_to(site)): leaks[:3] for p in sorted(site.rglob('*'))
             if p.suffix in ('.html', '.js', '.txt', '.md') and '_static' not in p.parts
             and (leaks := _leaks(p.read_text(encoding='utf-8', errors='replace')))}
    assert not found, f"machine paths or internal references in {len(found)} files of the site: {found}"


def test_signatures_hold_no_markdown_links(site):
    "A `show_doc` signature is code: a name linked in its comments would show as raw markdown (`[`x`](page.html#x)`)."
    raw = re.compile(r'<span class="c1">([^<]*\]\([^<)]*\)[^<]*)</span>')
    found = {str(p.relative_to(site)): raw.findall(p.read_text(encoding='utf-8'))[:2] for p in sorted(site.rglob('*.html'))}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"markdown links in the signatures of {len(found)} pages: {found}"
