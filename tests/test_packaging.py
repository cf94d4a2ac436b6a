"""The repository's promises about itself: one install, one test command, in sync."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")
yaml = pytest.importorskip("yaml")


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _normalise(req: str) -> str:
    return req.replace(" ", "").lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [r for r in pip_section if not r.startswith("-e")]
    assert sorted(map(_normalise, listed)) == sorted(map(_normalise, wanted)), (
        "environment.yml's pip section and pyproject.toml list different requirements"
    )
    assert any(r.startswith("-e") for r in pip_section), "environment.yml must install the package"
    assert "conda-forge" in env["channels"]
    assert any(str(d).startswith("python") for d in env["dependencies"] if isinstance(d, str))


def test_python_floor_agrees():
    assert _pyproject()["project"]["requires-python"] == ">=3.10"
    env = (ROOT / "environment.yml").read_text()
    assert "python>=3.10" in env


def test_required_dependencies_present():
    project = _pyproject()["project"]
    names = {_name(r) for r in project["dependencies"]}
    assert {"tensorflow", "numpy", "matplotlib", "ipywidgets"} <= names
    tf = next(r for r in project["dependencies"] if _name(r) == "tensorflow")
    assert ">=2.16" in tf  # Keras 3
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "jupyterlab", "jupyter-book"} <= dev
    jb = next(r for r in project["optional-dependencies"]["dev"] if _name(r) == "jupyter-book")
    assert "<2" in jb  # 2.x downloads its theme at build time


def _readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    test_command = commands[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci], ".ci/run must run README command (b) verbatim"


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{nb.name}" in readme, f"README's chapter list misses {nb.name}"


def test_toc_lists_every_notebook():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{nb.stem}" in toc, f"book/_toc.yml misses {nb.name}"


def test_notebooks_are_numbered_in_reading_order():
    names = [p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    assert names, "no notebooks"
    numbers = [int(n[:2]) for n in names]
    assert numbers == list(range(1, len(names) + 1)), names


def test_what_chapters_read_ships_with_the_package():
    """Colab has only what pip installs: the shipped records are package data."""
    from fnmatch import fnmatch

    from dalle_edu import api

    assert api.shipped_record("gan", "trajectory")["rows"]
    assert set(api.shipped_record("clip", "text_encoders")) == {"bow", "attention"}
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["dalle_edu"]
    for path in ("weights/gan_cpu/trajectory.json", "weights/clip/text_encoders.json"):
        assert any(fnmatch(path, g) and g.count("/") == path.count("/") for g in globs), path
    with pytest.raises(ValueError, match="no record 'nothing' ships with 'gan'; it has: "):
        api.shipped_record("gan", "nothing")
