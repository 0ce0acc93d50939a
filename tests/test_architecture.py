"""The direction of imports: wings import only the wings below them, ``fcn4`` never imports the
kit or the hub entry points, and the kit uses only public names of ``fcn4``."""
import ast
from pathlib import Path

import pytest

import fcn4

ROOT = Path(__file__).resolve().parents[1]
#: Each wing may import itself and the wings listed before it.
RANK = {wing: rank for rank, wing in enumerate(fcn4.WINGS)}
#: The package's facade (lazy exports, old paths): it may point anywhere.
FACADE = {"fcn4/__init__.py", "fcn4/__main__.py", "fcn4/_aliases.py", "fcn4/_compat.py", "fcn4/errors.py"}
OUTSIDE = ("finetune", "hubconf", "mindspore_hub_conf")


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, at any depth, relative ones resolved.

    ``from X import name`` counts as ``X.name`` (``name`` may be a module), so wings are seen either way.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def violations(path: str, source: str) -> list[str]:
    """What in the module at ``path`` (relative to the repository) breaks the direction of imports."""
    module = path[:-3].replace("/", ".")
    is_package = module.endswith(".__init__")
    module = module.removesuffix(".__init__")
    parts = module.split(".")
    problems = []
    for line, name in imported_modules(source, module, is_package):
        target = name.split(".")
        where = f"{path}:{line} imports {name}"
        if parts[0] == "fcn4" and target[0] in OUTSIDE:
            problems.append(f"{where}: fcn4 never imports {target[0]}")
        if parts[0] == "finetune" and target[0] == "fcn4" and any(p.startswith("_") for p in target[1:]):
            problems.append(f"{where}: the kit uses only public names of fcn4")
        if parts[0] != "fcn4" or len(parts) < 2 or path in FACADE or target[0] != "fcn4":
            continue
        wing = parts[1]
        if len(target) < 2 or target[1] not in RANK:
            problems.append(f"{where}: a wing imports other wings' modules by their own path, not through fcn4")
        elif RANK[target[1]] > RANK[wing]:
            problems.append(f"{where}: fcn4.{wing} may not import fcn4.{target[1]}, a wing above it")
    return problems


def sources():
    for folder in ("fcn4", "finetune"):
        for file in sorted((ROOT / folder).rglob("*.py")):
            yield file.relative_to(ROOT).as_posix(), file.read_text("utf-8")
    for name in ("hubconf.py", "mindspore_hub_conf.py"):
        yield name, (ROOT / name).read_text("utf-8")


def test_every_module_imports_only_down_its_wings():
    problems = [p for path, source in sources() for p in violations(path, source)]
    assert problems == []


def test_every_module_lives_in_a_wing():
    loose = [path for path, _ in sources() if path.startswith("fcn4/") and path.count("/") == 1
             and path not in FACADE]
    assert loose == []


def test_the_audio_wing_never_imports_mindspore():
    # Decoding workers import the audio wing; MindSpore would cost each of them seconds.
    heavy = [f"{path}:{line}" for path, source in sources() if path.startswith("fcn4/audio/")
             for line, name in imported_modules(source, path[:-3].replace("/", "."))
             if name.split(".")[0] == "mindspore"]
    assert heavy == []


@pytest.mark.parametrize("path, source, fault", [
    ("fcn4/model/network.py", "from ..training.trainer import Trainer\n", "a wing above it"),
    ("fcn4/audio/decoding.py", "def f():\n    from fcn4.inference import tagger\n", "a wing above it"),
    ("fcn4/hub/cards.py", "from .. import FCN4\n", "not through fcn4"),
    ("fcn4/training/trainer.py", "import finetune.recipe\n", "never imports finetune"),
    ("fcn4/cli/tag.py", "from hubconf import load\n", "never imports hubconf"),
    ("finetune/recipe.py", "from fcn4.base._private import x\n", "only public names"),
])
def test_the_checker_finds_an_arrow_pointing_up(path, source, fault):
    found = violations(path, source)
    assert len(found) == 1 and fault in found[0]


@pytest.mark.parametrize("path, source", [
    ("fcn4/cli/tag.py", "from ..inference.tagger import Tagger\nfrom .common import output\n"),
    ("fcn4/training/prepare.py", "from ..audio.decoding import DecodePool\n"),
    ("fcn4/hub/__init__.py", "from ..base.lazy import lazy_exports\n"),
    ("finetune/recipe.py", "from fcn4.training.trainer import Trainer\n"),
])
def test_the_checker_accepts_arrows_pointing_down(path, source):
    assert violations(path, source) == []


def import_graph() -> dict[str, set[str]]:
    """fcn4's modules and the fcn4 modules each imports, at any depth (in functions too)."""
    files = {}
    for file in sorted((ROOT / "fcn4").rglob("*.py")):
        module = file.relative_to(ROOT).as_posix()[:-3].replace("/", ".")
        files[module.removesuffix(".__init__")] = (file, module.endswith(".__init__"))
    graph = {}
    for module, (file, is_package) in files.items():
        targets = set()
        for _, name in imported_modules(file.read_text("utf-8"), module, is_package):
            while name and name not in files:  # ``from X import name``: the module X, or X.name if it is one
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of ``graph`` with more than one module (Tarjan's, iterative)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def test_no_import_circles_among_fcn4_modules():
    # A circle (even through an import inside a function) means two modules that cannot be read,
    # tested or moved apart; what both need belongs in a module below them.
    assert cycles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: A module past this many lines holds more than one concern: split it (the house rule).
MAX_LINES = 400


def test_no_module_is_over_400_lines():
    long = [f"{path}: {source.count(chr(10))} lines" for path, source in sources()
            if source.count("\n") > MAX_LINES]
    assert not long, long
