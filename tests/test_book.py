"""The book builds from the notebooks' stored outputs, offline, with warnings as errors."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    spec = importlib.util.spec_from_file_location("check_book", ROOT / "scripts" / "check_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
