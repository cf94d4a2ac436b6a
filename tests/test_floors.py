"""The package's floors: imports point down, never in a circle, and numpy-only modules stay numpy only.

This file is the one list of floors (the repository's ARCHITECTURE.md draws the same plan in words).
It reads every module with ``ast`` — every import statement, also those inside
functions, where the package imports lazily — without importing anything, so it
runs in a second. A new module must be given a floor in ``FLOORS``.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = "dalle_edu"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# module prefix (relative to dalle_edu) -> floor; "data" covers data/*, "t2i" a t2i/ package
FLOORS = {
    "presets": 1, "device": 1, "images": 1, "losses": 1, "configs": 1,
    "data": 2, "text": 2, "metrics": 2, "geometry": 2,
    "pipeline": 3, "models": 3, "diffusion": 3,
    "gan": 4, "replicas": 4, "checks": 4, "trainer": 4, "checkpoint": 4, "callbacks": 4,
    "clip": 4, "image_tokenizer": 4,
    "t2i": 5,
    "probe": 6, "measures": 6, "viz": 6, "widgets": 6, "exercises": 6,
    "api": 7, "cli": 7,
}
EXEMPT = {"", "__main__"}  # "" is dalle_edu/__init__.py: the lazy table names every floor
# configs is standard library at import, but its for_preset reads presets (which asks
# device whether a GPU is there): a floor-1 room, not a numpy-only one
NUMPY_ONLY = ("images", "data", "text", "metrics", "geometry")
TENSORFLOW = {"tensorflow", "keras"}
# the one exception: digits downloads MNIST with keras.datasets, imported in that function only
ALLOWED_TF = {("data.digits", "_online", "keras")}


def _match(name, prefixes):
    return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)


def floor_of(name):
    prefix = _match(name, FLOORS)
    return None if prefix is None else FLOORS[prefix]


def numpy_only(name):
    return _match(name, NUMPY_ONLY) is not None


def package_modules():
    """Relative module name ("" for the root, "data.shapes", "models") -> file."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = package_modules()


def imports(name, source, is_package=False, known=MODULES):
    """[(line, imported module, innermost enclosing function or None)] for every import in ``source``.

    Package modules come back relative to ``dalle_edu`` prefixed with ``dalle_edu.``;
    ``from X import y`` names the module ``X.y`` when that is a module, else ``X``.
    """
    here = [PACKAGE] + (name.split(".") if name else [])
    package = here if is_package else here[:-1]
    found = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name, func) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: level 1 is this package, 2 its parent, ...
                    parts = package[:len(package) - child.level + 1] + ([child.module] if child.module else [])
                    base = ".".join(parts)
                else:
                    base = child.module
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    rel = sub[len(PACKAGE) + 1:] if sub.startswith(PACKAGE + ".") else None
                    # the root holds no code of its own: `from dalle_edu import x` always means module x
                    is_module = base == PACKAGE or (rel is not None and rel in known)
                    found.append((child.lineno, sub if is_module else base, func))
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            visit(child, inner)

    visit(ast.parse(source), None)
    return found


def check(name, source, is_package=False, known=MODULES, path=None):
    """Every rule ``source`` (the module dalle_edu.<name>) breaks, as 'file:line message' strings."""
    path = path or f"{PACKAGE}/{name.replace('.', '/')}{'/__init__' if is_package else ''}.py"
    if name in EXEMPT:
        return []
    own = floor_of(name)
    if own is None:
        return [f"{path}: dalle_edu.{name} has no floor; give it one in FLOORS (tests/test_floors.py)"]
    errors = []
    for line, target, func in imports(name, source, is_package, known):
        top = target.split(".")[0]
        if top == PACKAGE:
            rel = target[len(PACKAGE) + 1:]
            floor = floor_of(rel)
            if floor is None:
                errors.append(f"{path}:{line} imports {target}, which has no floor "
                              "(a module missing from FLOORS, or a name from the lazy root)")
            elif rel not in known:
                errors.append(f"{path}:{line} imports {target}, which is not a module of the package")
            elif floor > own:
                errors.append(f"{path}:{line} imports {target} (floor {floor}) from floor {own}")
            elif numpy_only(name) and not numpy_only(rel):
                errors.append(f"{path}:{line} numpy-only dalle_edu.{name} imports {target}, "
                              "which is not numpy-only")
        elif top in TENSORFLOW and numpy_only(name) and (name, func, top) not in ALLOWED_TF:
            where = "at module level" if func is None else f"in {func}()"
            errors.append(f"{path}:{line} numpy-only dalle_edu.{name} imports {target} {where}")
    return errors


def import_graph(sources, known=MODULES):
    """{module: {imported package module: line}} from {module: (source, is_package)}, root left out."""
    graph = {}
    for name, (source, is_package) in sources.items():
        edges = graph.setdefault(name, {})
        for line, target, _ in imports(name, source, is_package, known):
            if not target.startswith(PACKAGE + "."):
                continue
            rel = target[len(PACKAGE) + 1:]
            while rel and rel not in known:  # a name inside a module: the module
                rel = rel.rpartition(".")[0]
            if rel and rel != name:
                edges.setdefault(rel, line)
    return graph


def find_cycle(graph):
    """One import cycle as [a, b, ..., a], or None (depth-first search, modules in sorted order)."""
    on_stack, done, stack = set(), set(), []

    def dfs(node):
        on_stack.add(node)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in done and (cycle := dfs(nxt)):
                return cycle
        on_stack.discard(stack.pop())
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done and (cycle := dfs(node)):
            return cycle
    return None


def _source(name):
    return MODULES[name].read_text(encoding="utf-8"), MODULES[name].name == "__init__.py"


# --- the package ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_and_numpy_only_modules_stay_numpy_only(name):
    source, is_package = _source(name)
    path = MODULES[name].relative_to(ROOT.parent).as_posix()
    errors = check(name, source, is_package, path=path)
    assert not errors, "\n".join(errors)


def test_no_import_cycles():
    graph = import_graph({name: _source(name) for name in MODULES})
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(
        f"dalle_edu.{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> dalle_edu.{cycle[-1]}"


def test_the_floor_table_is_unambiguous_and_numpy_only_modules_sit_low():
    assert not [(a, b) for a in FLOORS for b in FLOORS if b.startswith(a + ".")]  # one prefix per module
    assert all(floor_of(p) <= 2 for p in NUMPY_ONLY)


# --- the checker itself can fail -----------------------------------------------------

def test_an_upward_import_inside_a_function_is_reported():
    source = "import numpy as np\n\n\ndef f():\n    from dalle_edu import probe\n"
    assert check("t2i", source) == [
        "dalle_edu/t2i.py:5 imports dalle_edu.probe (floor 6) from floor 5"]
    assert check("t2i", "from dalle_edu.gan import GAN\nfrom . import text\n") == []


def test_relative_imports_resolve():
    assert [t for _, t, _ in imports("models.dcgan", "from .conditioning import x\nfrom .. import gan\n")] == [
        "dalle_edu.models.conditioning", "dalle_edu.gan"]
    assert [t for _, t, _ in imports("models", "from .dcgan import g\nfrom . import mlp\n", is_package=True)] == [
        "dalle_edu.models.dcgan", "dalle_edu.models.mlp"]
    assert check("models.dcgan", "from .. import gan\n") == [
        "dalle_edu/models/dcgan.py:1 imports dalle_edu.gan (floor 4) from floor 3"]


def test_tensorflow_in_a_numpy_only_module_is_reported_except_the_mnist_loader():
    assert check("images", "import numpy\nimport tensorflow as tf\n") == [
        "dalle_edu/images.py:2 numpy-only dalle_edu.images imports tensorflow at module level"]
    assert check("text", "def f():\n    from keras import ops\n") == [
        "dalle_edu/text.py:2 numpy-only dalle_edu.text imports keras in f()"]
    loader = "def _online(source):\n    import keras\n"
    assert check("data.digits", loader) == []
    assert check("data.digits", loader.replace("_online", "_offline")) == [
        "dalle_edu/data/digits.py:2 numpy-only dalle_edu.data.digits imports keras in _offline()"]
    assert check("data.shapes", loader) != []                       # the exception is digits' alone
    assert check("text", "from dalle_edu import losses\n") == [    # floor 1, but imports keras
        "dalle_edu/text.py:1 numpy-only dalle_edu.text imports dalle_edu.losses, which is not numpy-only"]


def test_unknown_modules_are_reported():
    assert "has no floor" in check("newthing", "import numpy\n")[0]
    assert "dalle_edu.nowhere, which has no floor" in check("api", "from dalle_edu import nowhere\n")[0]
    assert "dalle_edu.GAN, which has no floor" in check("api", "from dalle_edu import GAN\n")[0]
    assert check("t2i", "from dalle_edu.data.gone import f\n") == [
        "dalle_edu/t2i.py:1 imports dalle_edu.data.gone, which is not a module of the package"]


def test_a_cycle_is_found():
    sources = {"gan": ("from . import losses\n\ndef f():\n    from .callbacks import resume\n", False),
               "callbacks": ("from .gan import GAN\n", False), "losses": ("import keras\n", False)}
    graph = import_graph(sources)
    assert graph["gan"] == {"losses": 1, "callbacks": 4}
    assert find_cycle(graph) == ["callbacks", "gan", "callbacks"]
    del sources["callbacks"]
    assert find_cycle(import_graph(sources)) is None
