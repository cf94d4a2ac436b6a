"""Every chapter follows the course skeleton and is committed with real outputs.

(nbval executes them; these checks are about what the book will show.)
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SECTIONS = ["Setup", "Hyperparameters", "Summary", "Exercises"]


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _src(cell):
    return "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_skeleton(path):
    cells = _cells(path)
    assert cells[0]["cell_type"] == "markdown" and _src(cells[0]).startswith("# "), "starts with a title"
    headings = [line.lstrip("#").strip() for c in cells if c["cell_type"] == "markdown"
                for line in _src(c).splitlines() if line.startswith("## ")]
    positions = []
    for section in SECTIONS:
        hits = [i for i, h in enumerate(headings) if h.startswith(section)]
        assert hits, f"{path.name}: no '## {section}' section"
        positions.append(hits[0])
    assert positions == sorted(positions), f"{path.name}: sections out of order {headings}"
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "google.colab" in _src(code[0]), "first code cell is the Colab install cell"
    hyper = [c for c in code if "P.pick(" in _src(c)]
    assert len(hyper) == 1, f"{path.name}: sizes come from ONE Hyperparameters cell using P.pick"
    solutions = sum(":class: dropdown" in _src(c) for c in cells if c["cell_type"] == "markdown")
    assert solutions >= 1, f"{path.name}: exercises need collapsed solutions"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_with_real_outputs(path):
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code), f"{path.name}: unexecuted cells"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"], f"{path.name}: error output committed"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name}: no figure"
    text = json.dumps(outputs)
    assert "preset: smoke" not in text, f"{path.name}: committed from a smoke run; use the cpu preset"
    assert "absl::InitializeLog" not in text and "cudart_stub" not in text, (
        f"{path.name}: TensorFlow's native log lines are in the outputs; refresh it with "
        "`dalle-edu notebooks --preset cpu --only NN --inplace`, which strips them")
    assert len(text) < 3_000_000, f"{path.name}: outputs are {len(text) / 1e6:.1f} MB"
    checked = [c for c in code if _src(c).lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    for c in checked:
        assert c["outputs"], f"{path.name}: a NBVAL_CHECK_OUTPUT cell has no stored output to compare"
