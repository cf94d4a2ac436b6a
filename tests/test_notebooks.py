"""Every chapter follows the course skeleton and is committed with real outputs.

(nbval executes them; these checks are about what the book will show.)
"""

import ast
import json
import re
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
    chapter = path.name[:2]
    hyper = [c for c in code if f'P.chapter("{chapter}")' in _src(c)]
    assert len(hyper) == 1, (f"{path.name}: sizes come from ONE Hyperparameters cell, "
                             f'H = P.chapter("{chapter}") (the table: presets.CHAPTERS)')
    solutions = sum(_src(c).count("<summary>Solution") for c in cells if c["cell_type"] == "markdown")
    assert solutions >= 1, (f"{path.name}: exercises need solutions hidden in "
                            "<details><summary>Solution</summary> ... </details>")


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
    checked = [c for c in code if "nbval-check-output" in c.get("metadata", {}).get("tags", [])]
    for c in checked:
        assert c["outputs"], f"{path.name}: a nbval-check-output cell has no stored output to compare"


def _package_exports() -> dict:
    """Every name the package exports -> where: each module's public top-level functions and
    classes (and those classes' public methods, e.g. ``GAN.fit``), and the ``__all__`` of
    ``dalle_edu``, ``dalle_edu.t2i`` and ``dalle_edu.models``."""
    import dalle_edu  # lazy: no TensorFlow

    names = {name: "dalle_edu" for name in dalle_edu.__all__}
    for path in sorted((ROOT / "dalle_edu").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    and not node.name.startswith("_"):
                names.setdefault(node.name, f"{module}.{node.name}")
                if isinstance(node, ast.ClassDef):  # and its public methods: GAN.fit, Probe.predict
                    for method in node.body:
                        if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                                and not method.name.startswith("_"):
                            names.setdefault(method.name, f"{module}.{node.name}.{method.name}")
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                try:
                    exported = ast.literal_eval(node.value)
                except ValueError:  # dalle_edu's own, built from _LAZY: imported above
                    continue
                for name in exported:
                    names.setdefault(name, f"{module}.{name}")
    return names


def _notebook_definitions(path):
    """(cell index, name) of every function and class a notebook's code cells define at top level."""
    from IPython.core.inputtransformer2 import TransformerManager

    to_python = TransformerManager().transform_cell  # %pip and friends -> plain Python
    found = []
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse(to_python(_src(cell)))
        found += [(i, node.name) for node in tree.body
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return found


def test_package_exports_are_collected():
    names = _package_exports()
    for name in ("make_dataset", "build_gan", "position_counts", "color_masks", "decode", "GAN",
                 "generate", "SLICES", "train_classifier", "fit"):
        assert name in names, name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_call_the_package(path):
    """A notebook never re-defines what the package exports (ARCHITECTURE.md: one source for
    every piece of code). A five-line teaching version is fine under another name
    (``far_pixels_by_hand``), followed by a check that it equals the package's."""
    exports = _package_exports()
    clashes = [f"cell {i}: {name} (the package's is {exports[name]})"
               for i, name in _notebook_definitions(path) if name in exports]
    assert not clashes, (f"{path.name} re-defines names the package exports; call the package's, "
                         "or give a teaching version its own name (e.g. NAME_by_hand) and check it "
                         "equals the package's:\n  " + "\n  ".join(clashes))


# Syntax that only Jupyter Book (MyST) renders: JupyterLab, Colab and GitHub show it raw.
MYST_ONLY = re.compile(
    r"^\s*(`{3,}|~{3,}|:{3,})\s*\{[a-z-]+\}"  # ```{admonition}, :::{note}, ~~~{math}
    r"|^:class:|^:name:|^:label:"  # directive options
    r"|\{(ref|doc|numref|eq|term|download|cite)\}`"  # roles: {ref}`target`
    , re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_reads_the_same_in_jupyter_colab_github_and_the_book(path):
    """No MyST-only syntax (shown raw outside the book); solutions in <details> blocks that
    close; nbval markers as cell tags, not as comments readers see."""
    for i, cell in enumerate(_cells(path)):
        src = _src(cell)
        if cell["cell_type"] == "markdown":
            found = MYST_ONLY.search(src)
            assert not found, (f"{path.name} cell {i}: {found.group(0).strip()!r} is MyST-only syntax, "
                               "shown raw in Jupyter and Colab; use <details><summary>Solution</summary>")
            assert src.count("<details>") == src.count("</details>"), f"{path.name} cell {i}: unclosed <details>"
            assert src.count("<details>") == src.count("<summary>"), f"{path.name} cell {i}: <details> without <summary>"
        else:
            assert not re.search(r"^\s*# NBVAL_", src, re.M), (
                f"{path.name} cell {i}: mark nbval cells with a cell tag (nbval-check-output), "
                "not a comment")


def test_the_markdown_check_can_fail():
    assert MYST_ONLY.search("Try it.\n\n```{admonition} Solution\n:class: dropdown\nx\n```")
    assert MYST_ONLY.search("see {ref}`sec-gan`")
    assert not MYST_ONLY.search("<details>\n<summary>Solution</summary>\n\n~~~python\nx = 1\n~~~\n</details>")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_in_88_columns(path):
    """Code cells read without sideways scrolling in Jupyter, Colab and the book."""
    long = [f"cell {i} line {n}: {len(line)} characters"
            for i, cell in enumerate(_cells(path)) if cell["cell_type"] == "code"
            for n, line in enumerate(_src(cell).splitlines(), 1) if len(line) > 88]
    assert not long, (f"{path.name}: code lines over 88 characters (wrap them, e.g. with "
                      "black --line-length 88): " + "; ".join(long))


def _lab_saves(raw: str) -> str:
    """What JupyterLab writes for a chapter it opened and saved with no cell run.

    The notebook goes through the browser (JavaScript numbers: 1.0 comes back as 1), the
    running kernel's kernelspec and language_info replace the stored ones, and the server
    writes it with nbformat. The Python version in language_info is the reader's own, so it
    is kept as stored.
    """
    import nbformat
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    def js(x):
        if isinstance(x, float) and x.is_integer():
            return int(x)
        if isinstance(x, dict):
            return {k: js(v) for k, v in x.items()}
        return [js(v) for v in x] if isinstance(x, list) else x

    nb = js(json.loads(raw))
    spec = KernelSpecManager().get_kernel_spec("python3")
    nb["metadata"]["kernelspec"] = {"display_name": spec.display_name, "language": spec.language,
                                    "name": "python3"}
    info = dict(IPythonKernel.language_info)
    info["version"] = nb["metadata"].get("language_info", {}).get("version", info["version"])
    nb["metadata"]["language_info"] = info
    text = nbformat.writes(nbformat.from_dict(nb), version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opening_and_saving_in_jupyterlab_changes_nothing(path):
    raw = path.read_text(encoding="utf-8")
    saved = _lab_saves(raw)
    if saved != raw:
        import difflib
        diff = list(difflib.unified_diff(raw.splitlines(), saved.splitlines(), lineterm="", n=0))
        pytest.fail(f"{path.name}: JupyterLab would rewrite {len(diff)} diff lines on save, e.g. "
                    + " | ".join(diff[2:6]) + "; store it with dalle_edu.cli.lab_form "
                    "(`dalle-edu notebooks --inplace` does)")


def test_the_lab_save_check_can_fail():
    raw = (ROOT / "notebooks" / "01_gan_objective.ipynb").read_text(encoding="utf-8")
    nb = json.loads(raw)
    nb["metadata"]["kernelspec"]["display_name"] = "Python 3"
    assert _lab_saves(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n") != (
        json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


# Paths a cell may not read: pip installs the package, not the repository around it.
OUTSIDE_PACKAGE = re.compile(r"""["'](\.\./|benchmarks/|book/|tests/|scripts/|dalle_edu/)""")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_reads_a_file_pip_install_does_not_bring(path):
    """Colab has the installed package only: what a chapter reads ships as package data
    (``api.shipped_record``) or is computed."""
    hits = [f"cell {i}: {m.group(0)}" for i, c in enumerate(_cells(path)) if c["cell_type"] == "code"
            for m in OUTSIDE_PACKAGE.finditer(_src(c))]
    assert not hits, f"{path.name} reads files outside the installed package: {hits}"


# --- a number in prose is a number in an output --------------------------------------
# Decimals (0.936, 7.6) and thousands with commas (1,000) in a chapter's prose must be
# printed by one of its outputs (rounded to the prose's digits, or as a share for a
# per cent), or be set in its code. Solutions (<details>), maths and `code` are skipped.
# Cited papers' figures, which no output can print, are listed here with their source.
CITED = {
    "04": {"60,000": "MNIST's training set", "1,797": "scikit-learn's digits"},
    "05": {"1,797": "scikit-learn's digits", "2,048": "Inception's feature width"},
    "07": {},
    "09": {"1,024": "CLIP's ...", "400": "CLIP's pairs (millions)"},
    "10": {"2,048": "Inception-v3's pool features (Heusel et al. 2017)",
           "10,000": "the FID sample size of Heusel et al.",
           "50,000": "the FID sample size of Brock et al. / Karras et al."},
    "11": {"1,024": "DALL·E's image tokens (32 x 32)", "8,192": "DALL·E's codebook",
           "16,384": "DALL·E's BPE vocabulary", "1,280": "DALL·E's sequence length",
           "6.6": "DALL·E's KL weight (Ramesh et al. 2021)"},
    "12": {"1,280": "DALL·E's sequence length", "1,024": "DALL·E's image tokens (32 x 32)"},
    "13": {"3,072": "the pixels of a 32 x 32 x 3 image", "7.5": "Stable Diffusion's "
           "default guidance scale"},
}
_PROSE_NUMBER = re.compile(r"(?<![\w.$\\^_{/-])(\d+\.\d+|\d{1,3}(?:,\d{3})+)(?![\w.]*\d)")
_ANY_NUMBER = re.compile(r"-?\d[\d,_]*\.?\d*(?:e-?\d+)?")


def _prose(cell) -> str:
    s = re.sub(r"<details>.*?</details>", " ", _src(cell), flags=re.S)
    s = re.sub(r"\$\$.*?\$\$", " ", s, flags=re.S)
    s = re.sub(r"\$[^$\n]*\$", " ", s)
    s = re.sub(r"~~~.*?~~~|```.*?```", " ", s, flags=re.S)
    s = re.sub(r"`[^`\n]*`", " ", s)
    return re.sub(r"\]\([^)]*\)", "]", s)  # link targets


def _output_numbers(cells) -> tuple[str, list[float]]:
    texts = []
    for c in cells:
        if c["cell_type"] == "code":
            texts.append(_src(c))
            for o in c.get("outputs", []):
                texts.append("".join(o.get("text", "")))
                for kind, v in o.get("data", {}).items():
                    if kind.startswith("text/"):
                        texts.append("".join(v))
    text = "\n".join(texts)
    values = []
    for m in _ANY_NUMBER.findall(text):
        try:
            values.append(float(m.replace(",", "").replace("_", "")))
        except ValueError:
            pass
    return text, values


def _printed(number: str, text: str, values: list[float]) -> bool:
    if number in text:
        return True
    v = float(number.replace(",", ""))
    digits = len(number.split(".")[1]) if "." in number else 0
    tol = 0.5 * 10 ** -digits + 1e-12
    return any(abs(x - v) <= tol or abs(100 * x - v) <= tol or abs(x / 60 - v) <= tol
               for x in values)


def unprinted_numbers(path) -> list[str]:
    cells = _cells(path)
    text, values = _output_numbers(cells)
    cited = CITED.get(path.name[:2], {})
    missing = []
    for i, c in enumerate(cells):
        if c["cell_type"] != "markdown":
            continue
        for number in _PROSE_NUMBER.findall(_prose(c)):
            if number not in cited and not _printed(number, text, values):
                missing.append(f"cell {i}: {number}")
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_number_in_prose_is_a_number_in_an_output(path):
    missing = unprinted_numbers(path)
    assert not missing, (f"{path.name}: prose quotes numbers no output prints (re-run the "
                         f"chapter, fix the prose, or cite the paper in CITED): {missing}")
