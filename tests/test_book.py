"""The book builds from the notebooks' stored outputs, offline, with warnings as errors."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(os.environ.get("DALLE_EDU_SKIP_BOOK") == "1", reason="DALLE_EDU_SKIP_BOOK=1")
def test_book_builds_with_warnings_as_errors(tmp_path):
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        pytest.skip("jupyter-book is not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [jb, "build", str(ROOT), "--config", str(ROOT / "book" / "_config.yml"),
         "--toc", str(ROOT / "book" / "_toc.yml"), "--path-output", str(tmp_path),
         "-W", "-n", "--keep-going", "--all"],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = tmp_path / "_build" / "html"
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = (html / "notebooks" / f"{nb.stem}.html").read_text()
        # stored outputs are shown (pictures as PNG), and each chapter can open in Colab
        assert "colab.research.google.com/github/" in page and f"notebooks/{nb.name}" in page
        assert "<img" in page, f"{nb.name}: no picture in the rendered chapter"
