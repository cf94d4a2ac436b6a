"""The project's own docs: ARCHITECTURE.md draws the floors of tests/test_floors.py, and
nothing the project ships cites a file outside the repository.

Both read files only (no TensorFlow), so they run in a second.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest
from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "ARCHITECTURE.md"


def _floors_module():
    """tests/test_floors.py, loaded by path (tests are not a package): FLOORS, NUMPY_ONLY."""
    spec = importlib.util.spec_from_file_location("_floors_for_docs", ROOT / "tests" / "test_floors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- (a) ARCHITECTURE.md's floor table is the FLOORS of tests/test_floors.py ---------------

def floor_table(text):
    """{module: (floor, numpy_only, line)} from the markdown table headed `| floor | module | ...`.

    A row's module column holds the module's name in backticks (`data` or `data/` for a
    folder, `images` or `images.py`); its last column starts with "numpy only" (bold or
    not) when the module is numpy-only. Several names in one cell share the row.
    """
    rows, header, errors = {}, None, []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.lstrip().startswith("|"):
            if header is not None and rows:
                break  # the table ended
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            if [c.lower() for c in cells[:2]] == ["floor", "module"]:
                header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the |---|---| line
        row = dict(zip(header, cells))
        if not row.get("floor", "").isdigit():
            errors.append(f"ARCHITECTURE.md:{number}: floor {row.get('floor')!r} is not a number")
            continue
        names = re.findall(r"`([^`]+)`", row.get("module", ""))
        if not names:
            errors.append(f"ARCHITECTURE.md:{number}: no `module` in the module column")
        numpy_only = re.sub(r"[*_]", "", row.get("may import", "")).strip().lower().startswith("numpy only")
        for name in names:
            name = name.removeprefix("dalle_edu.").removesuffix(".py").rstrip("/")
            if name in rows:
                errors.append(f"ARCHITECTURE.md:{number}: {name} is also on line {rows[name][2]}")
            rows[name] = (int(row["floor"]), numpy_only, number)
    assert header is not None, "ARCHITECTURE.md has no table headed | floor | module | ... |"
    assert not errors, "\n".join(errors)
    return rows


def test_architecture_md_draws_the_floors_of_test_floors():
    floors = _floors_module()
    table = floor_table(ARCHITECTURE.read_text(encoding="utf-8"))
    problems = []
    for name, (floor, _, line) in sorted(table.items(), key=lambda kv: kv[1][2]):
        if name not in floors.FLOORS:
            problems.append(f"ARCHITECTURE.md:{line}: `{name}` (floor {floor}) is not in FLOORS "
                            "(tests/test_floors.py)")
        elif floors.FLOORS[name] != floor:
            problems.append(f"ARCHITECTURE.md:{line}: `{name}` is on floor {floor}, "
                            f"FLOORS (tests/test_floors.py) says {floors.FLOORS[name]}")
    for name, floor in floors.FLOORS.items():
        if name not in table:
            problems.append(f"tests/test_floors.py: FLOORS[{name!r}] = {floor} has no row "
                            "in ARCHITECTURE.md's floor table")
    for name, (_, numpy_only, line) in table.items():
        if name in floors.FLOORS and numpy_only != (name in floors.NUMPY_ONLY):
            says = "numpy only" if numpy_only else "not numpy only"
            problems.append(f"ARCHITECTURE.md:{line}: `{name}` is {says} there, "
                            f"NUMPY_ONLY (tests/test_floors.py) disagrees")
    assert not problems, "\n".join(problems)


def test_floor_table_parser_reads_rows_and_marks():
    text = ("intro\n\n| floor | module | what | may import |\n| --- | --- | --- | --- |\n"
            "| 1 | `images.py` | pictures | **numpy only**: numpy |\n"
            "| 3 | `models/`, `pipeline` | blocks | keras |\n\nafter\n| 9 | `x` | | |\n")
    assert floor_table(text) == {"images": (1, True, 5), "models": (3, False, 6),
                                 "pipeline": (3, False, 6)}


# --- (b) nothing shipped cites a file outside the repository --------------------------------

SHIPPED = ("README.md", "CONTRIBUTING.md", "ARCHITECTURE.md", "pyproject.toml", "environment.yml",
           "book/*.md", "book/*.yml", "dalle_edu/**/*.py", "notebooks/*.ipynb", "tests/*.py",
           "benchmarks/*.py", "scripts/*.py", "scripts/*.sh")
# the team's design notes live outside the repository; the repo has its own versions
OUTSIDE = re.compile(r"SHAPES_WORLD\.md|\.\./shared\b|/work/shared|shared/(ARCHITECTURE|STYLE|SHAPES)"
                     r"|\bSTYLE\.md")
MENTION = re.compile(r"[\w./~-]*ARCHITECTURE\.md")


def shipped_files():
    seen = set()
    for pattern in SHIPPED:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and path not in seen and ".ipynb_checkpoints" not in path.parts:
                seen.add(path)
                yield path


def outside_citations(path, text):
    """'file:line: ...' for each citation in ``text`` (the file ``path``) of a file outside the repo."""
    rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for m in OUTSIDE.finditer(line):
            found.append(f"{rel}:{number}: cites {m.group(0)!r}, a file outside the repository "
                         "(the shapes world's spec is book/shapes_world.md, the floors ARCHITECTURE.md)")
        for m in MENTION.finditer(line):
            ref = m.group(0)
            # a bare name or a path (from the root or the citing file) to the root's ARCHITECTURE.md
            if ref != "ARCHITECTURE.md" and not any(
                    (base / ref).resolve() == ARCHITECTURE for base in (ROOT, path.parent)):
                found.append(f"{rel}:{number}: cites {ref!r}, which is not the repository's ARCHITECTURE.md")
    return found


def test_architecture_md_exists_at_the_root():
    assert ARCHITECTURE.is_file(), "ARCHITECTURE.md is missing from the repository root"


def test_nothing_shipped_cites_a_file_outside_the_repository():
    this = Path(__file__).resolve()
    found = [problem for path in shipped_files() if path.resolve() != this  # its patterns name them
             for problem in outside_citations(path, path.read_text(encoding="utf-8"))]
    assert not found, f"{len(found)} citation(s) of files outside the repository:\n" + "\n".join(found)


def test_outside_citations_are_found_with_file_and_line():
    doc = ROOT / "book" / "page.md"
    text = ("fine: ARCHITECTURE.md and ../ARCHITECTURE.md\n"
            "bad: SHAPES_WORLD.md, see ../shared/x and shared/STYLE.md\n"
            "bad: docs/ARCHITECTURE.md\n")
    found = outside_citations(doc, text)
    assert len(found) == 4 and all(f.startswith("book/page.md:") for f in found), found
    assert [f.split(":")[1] for f in found] == ["2", "2", "2", "3"]
    assert "'docs/ARCHITECTURE.md'" in found[-1]


def _chapter_times():
    return load_script("chapter_times")


def test_intro_shows_each_chapters_words_reading_and_run_time_as_stored():
    """book/intro.md's table is what `python scripts/chapter_times.py` prints."""
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    stale = [row for row in _chapter_times().rows() if row not in intro]
    assert not stale, ("book/intro.md's time table is stale; paste the rows of "
                       "`python scripts/chapter_times.py`:\n" + "\n".join(stale))


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")),
                         ids=lambda p: p.stem)
def test_a_chapter_is_one_class_session(path):
    times = _chapter_times()
    words = times.prose_words(json.loads(path.read_text(encoding="utf-8")))
    assert words <= times.MAX_WORDS, f"{path.name}: {words:,} words of prose (at most {times.MAX_WORDS:,})"
