"""The book builds from the notebooks' stored outputs, offline, with warnings as errors."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
skip_book = pytest.mark.skipif(os.environ.get("DALLE_EDU_SKIP_BOOK") == "1", reason="DALLE_EDU_SKIP_BOOK=1")


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    """One build for every test here (it is the slow part): (the build's result, its html folder)."""
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        pytest.skip("jupyter-book is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [jb, "build", str(ROOT), "--config", str(ROOT / "book" / "_config.yml"),
         "--toc", str(ROOT / "book" / "_toc.yml"), "--path-output", str(out),
         "-W", "-n", "--keep-going", "--all"],
        capture_output=True, text=True, timeout=900,
    )
    return result, out / "_build" / "html"


def _html(built_book) -> Path:
    result, html = built_book
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return html


@skip_book
def test_book_builds_with_warnings_as_errors(built_book):
    html = _html(built_book)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = (html / "notebooks" / f"{nb.stem}.html").read_text()
        # stored outputs are shown (pictures as PNG), and each chapter can open in Colab
        assert "colab.research.google.com/github/" in page and f"notebooks/{nb.name}" in page
        assert "<img" in page, f"{nb.name}: no picture in the rendered chapter"


@skip_book
def test_book_serves_mathjax_itself_not_from_a_cdn(built_book):
    html = _html(built_book)
    pages = [p for p in html.rglob("*.html") if not p.relative_to(html).parts[0].startswith("_")]
    math_pages = 0
    for page in pages:
        text = page.read_text()
        rel = page.relative_to(html)
        assert "cdn.jsdelivr.net/npm/mathjax" not in text and "mathjax.org" not in text.lower(), (
            f"{rel} loads MathJax from the internet: offline, its equations show as raw TeX"
        )
        srcs = re.findall(r'<script[^>]*\bsrc="([^"]*mathjax[^"]*)"', text, flags=re.I)
        for src in srcs:
            assert not re.match(r"(https?:)?//", src), f"{rel}: MathJax from {src}"
            assert (page.parent / src.split("?")[0]).is_file(), f"{rel}: {src} is not in the build"
        math_pages += bool(srcs)
    assert math_pages >= len(list((ROOT / "notebooks").glob("*.ipynb"))), "the chapters load no MathJax"


@skip_book
def test_book_prints_of_one_cell_share_one_box(built_book):
    """nb_merge_streams: consecutive print() outputs of a cell show as one box, not one per chunk."""
    html = _html(built_book)
    for page in sorted((html / "notebooks").glob("*.html")):
        # a tagged cell's class is "cell tag_<tag> docutils container": split on every cell
        cells = re.split(r'class="cell(?: [^"]*)? docutils container"', page.read_text())[1:]
        split = [c for c in cells if len(re.findall(r'class="output stream\b', c)) > 1]
        assert not split, f"{page.name}: {len(split)} cell(s) show their prints in several boxes"


def _check_book():
    return load_script("check_book")


def test_check_book_spots_raw_tex_and_myst_but_not_code():
    cb = _check_book()
    rendered = ('<p>The loss <mjx-container>\\frac{1}{2}</mjx-container> is fine.</p>'
                '<pre>$$ \\begin{x} ```{admonition} :::</pre><code>:class: dropdown</code>'
                '<div class="highlight">\\frac</div><script>var a = "$$";</script>')
    text = cb.prose_text(rendered)
    assert cb.find_raw(text, cb.RAW_TEX) == [] and cb.find_raw(text, cb.RAW_MYST) == []
    shown = ('<p>```{admonition} Solution<br>:class: dropdown</p><p>see {ref}`intro`</p>'
             '<p>so $$\\frac{a}{b}$$ and \\(x\\) and \\begin{align}</p>')
    text = cb.prose_text(shown)
    tex = " ".join(cb.find_raw(text, cb.RAW_TEX))
    myst = " ".join(cb.find_raw(text, cb.RAW_MYST))
    assert "$$" in tex and "TeX command" in tex and "delimiters" in tex and "\\begin{" in tex
    assert "```{" in myst and ":class:" in myst and "{role}" in myst


def test_check_book_spots_broken_images_and_split_outputs(tmp_path):
    cb = _check_book()
    pil = pytest.importorskip("PIL.Image")
    (tmp_path / "_images").mkdir()
    pil.new("RGB", (4, 4)).save(tmp_path / "_images" / "ok.png")
    (tmp_path / "_images" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a picture")
    page = tmp_path / "page.html"
    assert cb.check_image_file(tmp_path, page, "_images/ok.png") is None
    assert "missing" in cb.check_image_file(tmp_path, page, "_images/gone.png")
    assert "decode" in cb.check_image_file(tmp_path, page, "_images/bad.png")
    one = '<div class="cell docutils container"><div class="output stream highlight">a\nb</div></div>'
    two = ('<div class="cell docutils container"><div class="output stream highlight">a</div>'
           '<div class="output stream highlight">b</div></div>')
    assert cb.split_outputs(one) == 0 and cb.split_outputs(one + two) == 1


@skip_book
def test_chapter_one_reads_right_in_a_browser(built_book, tmp_path):
    """Headless Chromium opens chapter 1 (the most maths): MathJax ran, no raw TeX/MyST, pictures load."""
    cb = _check_book()
    if cb.find_chromium() is None:
        pytest.skip(cb.INSTALL_HINT)
    html = _html(built_book)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_book.py"), "--html", str(html),
         "--out", str(tmp_path), "--page", "01_"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "MathJax 3" in result.stdout and (tmp_path / "notebooks__01_gan_objective.png").is_file()
    # its stored ipywidget rendered from the book's own scripts (no request left 127.0.0.1)
    assert "1/1 widgets" in result.stdout, result.stdout


# --- ipywidgets: served by the book itself ------------------------------------------------
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BUNDLED_WIDGET_MODULES = {"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output"}


def _sphinx_config() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["sphinx"]["config"]


def _static_file(config: dict, rel: str) -> Path | None:
    """Where the book's `_static/<rel>` comes from (html_static_path folders, relative to the root)."""
    for folder in config.get("html_static_path", []):
        if (ROOT / folder / rel).is_file():
            return ROOT / folder / rel
    return None


def test_widget_scripts_are_local_files_that_exist():
    """nb_ipywidgets_js names files in book/_static (not myst-nb's CDN defaults), and they can
    render every widget the notebooks store: protocol 2 (ipywidgets 8), modules in the bundle."""
    config = _sphinx_config()
    scripts = config.get("nb_ipywidgets_js")
    assert scripts, "nb_ipywidgets_js is not set: myst-nb loads the widget scripts from CDNs"
    for src, attrs in scripts.items():
        assert not re.match(r"([a-z]+:)?//", src), f"{src} is not a local file"
        assert _static_file(config, src), f"{src} is not in html_static_path {config.get('html_static_path')}"
        for name, value in (attrs or {}).items():
            assert not re.match(r"([a-z]+:)?//", str(value)), f"{src}: {name}={value} points off the book"
    names = [Path(src).name for src in scripts]
    assert "require.js" in names and "embed-amd.js" in names
    assert names.index("require.js") < names.index("embed-amd.js"), "require.js must load first"
    embed_path = _static_file(config, next(s for s in scripts if s.endswith("embed-amd.js")))
    embed = embed_path.read_text()
    # the fonts its CSS asks for lie beside it (embed-setup.js points webpack's public path there)
    fonts = set(re.findall(r'\.p\+"([0-9a-f]{20}\.woff2)"', embed))
    assert fonts and all((embed_path.parent / f).is_file() for f in fonts), f"fonts {sorted(fonts)} missing"
    stored = 0
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        state = json.loads(nb.read_text()).get("metadata", {}).get("widgets", {}).get(WIDGET_STATE)
        if not state:
            continue
        stored += 1
        assert state["version_major"] == 2, f"{nb.name}: widget state protocol {state['version_major']}"
        modules = {m["model_module"] for m in state["state"].values()}
        modules |= {m["state"].get("_view_module") for m in state["state"].values()} - {None}
        assert modules <= BUNDLED_WIDGET_MODULES, (
            f"{nb.name} uses {sorted(modules - BUNDLED_WIDGET_MODULES)}, which embed-amd.js does not hold: "
            "vendor its AMD bundle (see book/_static/README)")
    assert stored, "no notebook stores widget state (is the check still needed?)"
    for module in ("@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/html-manager"):
        assert f'define("{module}"' in embed, f"embed-amd.js does not define {module}"


def test_check_book_flags_the_internet_failed_requests_and_js_errors():
    cb = _check_book()
    base = "http://127.0.0.1:8000/"

    def request(i, url):
        return {"method": "Network.requestWillBeSent", "params": {"requestId": str(i), "request": {"url": url}}}

    events = [
        request(1, base + "_static/jupyter-widgets/embed-amd.js"),
        request(2, "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js"),
        request(3, "data:image/png;base64,AAAA"),
        request(4, base + "notebooks/x.woff2"),
        {"method": "Network.responseReceived",
         "params": {"requestId": "4", "response": {"url": base + "notebooks/x.woff2", "status": 404}}},
        {"method": "Runtime.exceptionThrown", "params": {"exceptionDetails": {
            "text": "Uncaught", "exception": {"description": "TypeError: MathJax.Hub is undefined"}}}},
        {"method": "Runtime.consoleAPICalled", "params": {"type": "error", "args": [{"value": "oops"}]}},
    ]
    problems, warnings = cb.read_events(events, base)
    text = "\n".join(problems)
    assert len(problems) == 3 and "cdn.jsdelivr.net" in text and "HTTP 404" in text and "TypeError" in text
    assert warnings == ["console.error: oops"]
    assert cb.is_remote("https://unpkg.com/x.js") and cb.is_remote("//cdn.x/y.js")
    assert not cb.is_remote("../_static/jupyter-widgets/require.js?v=1")
    assert cb.known_noise("failed request: HTTP 404 for http://127.0.0.1:1/favicon.ico")
    assert not cb.known_noise(problems[0])


@skip_book
def test_chapters_with_widgets_load_their_scripts_from_the_book(built_book):
    html = _html(built_book)
    for page in sorted((html / "notebooks").glob("*.html")):
        text = page.read_text()
        if WIDGET_STATE not in text:
            continue
        srcs = re.findall(r'<script[^>]*\bsrc="([^"]*)"', text)
        widget_srcs = [s for s in srcs if "require" in s or "embed-amd" in s or "widgets" in s]
        assert len(widget_srcs) >= 2, f"{page.name}: no widget scripts"
        for src in srcs:
            assert not re.match(r"(https?:)?//", src), f"{page.name} loads {src} from the internet"
        for src in widget_srcs:
            assert (page.parent / src.split("?")[0]).is_file(), f"{page.name}: {src} is not in the build"


# --- layout at 1280 px: nothing wider than the column, no picture shrunk ----------------------
def test_layout_problems_name_the_element_and_both_widths():
    cb = _check_book()
    layout = {"column": 904, "wide": [
        {"kind": "code cell", "cell": 3, "width": 950, "text": "x = 1"},
        {"kind": "output", "cell": 4, "width": 1200, "text": "a long print"},
        {"kind": "table", "cell": 0, "width": 981, "text": "run"},
        {"kind": "display equation", "cell": 0, "width": 996, "text": "Q = X W_Q"}],
        "shrunk": [{"cell": 12, "src": "../_images/abc.png", "natural": [1489, 95], "shown": [904, 58]}]}
    lines = cb.layout_problems(layout)
    assert len(lines) == 5
    assert lines[0] == "too wide: code cell 3 «x = 1» is 950 px, the column 904 px (+46)"
    assert "output of code cell 4" in lines[1] and "table «run» is 981 px" in lines[2]
    assert "display equation «Q = X W_Q» is 996 px" in lines[3]
    assert "abc.png shown 904x58 px, drawn 1489x95 px (61%)" in lines[4]
    assert cb.layout_problems({"column": 904, "wide": [], "shrunk": []}) == []
    twice = cb.layout_problems({"column": 904, "wide": [], "shrunk": layout["shrunk"] * 2})
    assert len(twice) == 1 and twice[0].endswith("(x2: 2 elements alike)")
    assert cb.WINDOW_SIZE[0] == 1280 and 0 < cb.IMAGE_MIN_SCALE <= 1 and cb.WIDE_TOLERANCE_PX >= 0


def _layout_page(wide: bool) -> str:
    """A page shaped like the book's (article.bd-article, myst-nb cells, MathJax 3 CHTML tags),
    600 px of column: every kind of element once, too wide (wide=True) or fitting."""
    n = 200 if wide else 40  # characters: 200 x ~8 px overflows 600 px, 40 does not
    line = "x" * n
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
      body {{ margin: 0; font: 14px monospace; }}
      article.bd-article {{ width: 600px; padding: 0 20px; }}
      pre {{ white-space: pre; overflow-x: auto; margin: 0; }}
      img {{ max-width: 100%; }}
      mjx-container[display="true"] {{ display: block; overflow-x: auto; }}
      mjx-math {{ display: inline-block; }}
    </style></head><body><article class="bd-article">
      <div class="cell docutils container">
        <div class="cell_input docutils container"><div class="highlight"><pre>{line[:60]}</pre></div></div>
        <div class="cell_output docutils container">
          <div class="output stream"><div class="highlight"><pre>short\n{line}</pre></div></div>
        </div>
      </div>
      <details><summary>Solution</summary><div class="cell docutils container">
        <div class="cell_input docutils container"><div class="highlight"><pre>{line}</pre></div></div>
      </div></details>
      <div class="cell docutils container"><div class="cell_input docutils container">
        <div class="highlight"><pre>plt.imshow(x)</pre></div></div>
        <div class="cell_output docutils container"><img src="_images/{'wide' if wide else 'small'}.png"></div>
      </div>
      <div class="pst-scrollable-table-container" style="overflow-x: auto">
        <table><tr><td style="white-space: nowrap">{line}</td><td>b</td></tr></table></div>
      <mjx-container class="MathJax" jax="CHTML" display="true">
        <mjx-math style="width: {1.5 * n * 8:.0f}px">E = mc^2</mjx-math>
        <mjx-assistive-mml style="position: absolute; width: 5000px">E</mjx-assistive-mml>
      </mjx-container>
      <!-- clipped on purpose (MathJax stretches a brace's glyph 500x in a box like this) -->
      <div style="overflow: hidden; width: 50px">
        <span style="display: inline-block; transform: scaleX(500)">-</span></div>
    </article></body></html>"""


def test_check_book_fails_on_what_is_wider_than_the_column_or_shrunk(tmp_path):
    """In Chromium: an overflowing output <pre>, a code cell in a closed dropdown, a table, a
    display equation and a picture scaled below its size each give one line; a page where
    all of them fit gives none."""
    cb = _check_book()
    chromium = cb.find_chromium()
    if chromium is None:
        pytest.skip(cb.INSTALL_HINT)
    pil = pytest.importorskip("PIL.Image")
    (tmp_path / "_images").mkdir()
    pil.new("RGB", (800, 40), "white").save(tmp_path / "_images" / "wide.png")  # > 600-px column
    pil.new("RGB", (300, 40), "white").save(tmp_path / "_images" / "small.png")
    (tmp_path / "fits.html").write_text(_layout_page(wide=False))
    (tmp_path / "overflows.html").write_text(_layout_page(wide=True))
    shots = tmp_path / "shots"
    shots.mkdir()
    server, base_url = cb.serve(tmp_path)
    browser = cb.Browser(chromium, *cb.WINDOW_SIZE)
    try:
        _, fits, *_ = cb.check_page(browser, base_url, tmp_path, tmp_path / "fits.html", shots)
        _, wide, *_ = cb.check_page(browser, base_url, tmp_path, tmp_path / "overflows.html", shots)
    finally:
        browser.close()
        server.shutdown()
    assert fits == [], fits
    text = "\n".join(wide)
    assert len(wide) == 5, text
    assert f"too wide: output of code cell 1 `{'x' * 40}` «short»" in text and "the column 600 px" in text
    assert f"too wide: code cell 2 «{'x' * 60}" in text  # opened from its closed dropdown
    assert "too wide: table «" in text and "too wide: display equation «E = mc^2» is 2400 px" in text
    assert "shrunk picture: output of code cell 3 `plt.imshow(x)`, wide.png shown 600x30 px, drawn 800x40 px" in text
    assert "too wide: code cell 1 «" not in text  # its 60-character line fits
    # the command line: exit 1, one line per problem naming the page
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_book.py"), "--html", str(tmp_path),
                             "--out", str(shots)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ok    fits.html" in result.stdout and "FAIL  overflows.html" in result.stdout
    assert sum(line.startswith("      overflows.html: ") for line in result.stdout.splitlines()) == 5


@skip_book
def test_every_page_reads_right_in_a_browser_at_1280px(built_book, tmp_path):
    """The whole book through check_book.py: besides maths, pictures and widgets, nothing wider
    than the article column at 1280 px and no output picture shown below its size."""
    cb = _check_book()
    if cb.find_chromium() is None:
        pytest.skip(cb.INSTALL_HINT)
    html = _html(built_book)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_book.py"), "--html", str(html), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    problems = [line.strip() for line in result.stdout.splitlines() if line.startswith("      ")
                and not line.lstrip().startswith("warn")]
    assert not problems, "\n".join(problems)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

