"""The import graph runs one way (docs/architecture.md, "Layout and the import graph").

Read from the source with `ast`, so a rule holds for every import, at module level or
inside a function, whether Python has run it or not:

- the core (`participate/*.py`) imports no feature, except the composition root
  (`app.py`, `cli.py`, `serve.py`, `demo.py`, and `__main__.py` for `python -m`);
- nothing imports the composition root but the composition root (and the tests);
- a feature imports the core, and another feature only through its public API: the
  package itself (what its `__init__` exports) and the modules in PUBLIC_MODULES; the
  composition root too uses features through their public API only;
- node-side modules never import hub-side ones; the wire format both speak is
  `participate.sync.wire`;
- nothing imports a feature by its bare folder name (`import sms`);
- the modules' imports form no cycle.
"""

from __future__ import annotations

import ast
import configparser
import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = "participate"
COMPOSITION_ROOT = {f"{CORE}.{name}" for name in ("app", "cli", "serve", "demo", "__main__")}
# A feature's modules that other features (and the composition root) may import, beside
# the package itself. The device registry belongs to sync, which enrols and verifies
# devices; the hub's admin pages list, add and switch them through it.
PUBLIC_MODULES = {f"{CORE}.sync.devices"}
NODE_SIDE = {f"{CORE}.kiosk", f"{CORE}.sync.node", f"{CORE}.sync.client", f"{CORE}.sync.scheduling"}
HUB_SIDE = {
    f"{CORE}.hub",
    f"{CORE}.api",
    f"{CORE}.sync.api",
    f"{CORE}.sync.receive",
    f"{CORE}.sync.devices",
    f"{CORE}.sync.verification",
}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted name of what is imported: a module, a package or a name in one
    line: int
    path: Path


def package_folders(root: Path) -> dict[str, Path]:
    """Map each Python package the distribution installs to its folder (setup.cfg)."""
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    mapping = {CORE: root / CORE}
    for line in config["options"]["package_dir"].strip().splitlines():
        package, _, folder = (part.strip() for part in line.partition("="))
        if (root / folder / "__init__.py").exists():
            mapping[package] = root / folder
    return mapping


def features(root: Path) -> set[str]:
    """Return the feature packages: every installed Python package but the core."""
    return set(package_folders(root)) - {CORE}


def modules(root: Path) -> dict[str, Path]:
    """Map every module of the distribution to its file."""
    found = {}
    for package, folder in package_folders(root).items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Yield what one module imports, relative imports resolved, `from m import x`
    naming the module `m.x` when there is one."""
    tree = _parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno, path)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base = ".".join(base_parts[: len(base_parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield Import(name, submodule if submodule in known else base, node.lineno, path)


@functools.lru_cache(maxsize=1024)
def _parse(source: str) -> ast.Module:
    # By content: the copies the tests below make parse once.
    return ast.parse(source)


def within(module: str, prefixes: set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def feature_of(module: str, feature_names: set[str]) -> str | None:
    return next((f for f in feature_names if within(module, {f})), None)


def violations(root: Path) -> list[str]:
    """Return every broken rule, one line each ("file:line: importer -> target: why")."""
    found = modules(root)
    feature_names = features(root)
    bare = {name.rpartition(".")[2] for name in feature_names}
    problems: list[str] = []
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, path in sorted(found.items()):
        for edge in imports(name, path, set(found)):
            why = _broken_rule(edge, feature_names, bare)
            if why:
                where = f"{edge.path.relative_to(root)}:{edge.line}"
                problem = f"{where}: {edge.importer} -> {edge.target}: {why}"
                problems += [problem] if problem not in problems else []
            if edge.target in found and edge.target != name:
                graph[name].add(edge.target)
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def _broken_rule(edge: Import, feature_names: set[str], bare: set[str]) -> str | None:
    importer, target = edge.importer, edge.target
    if target.split(".")[0] in bare:
        return f"bare feature name; import {CORE}.{target}"
    if within(target, COMPOSITION_ROOT) and not within(importer, COMPOSITION_ROOT):
        return "only the composition root imports the composition root"
    target_feature = feature_of(target, feature_names)
    if target_feature is None:
        return None  # the core, the standard library or a dependency
    importer_feature = feature_of(importer, feature_names)
    if importer_feature == target_feature:
        if within(importer, NODE_SIDE) and within(target, HUB_SIDE):
            return "node-side code imports a hub-side module"
        return None
    if importer_feature is None and not within(importer, COMPOSITION_ROOT):
        return "the core imports a feature outside the composition root"
    if target != target_feature and target not in PUBLIC_MODULES:
        return f"reaches into {target_feature}; use its public API"
    if within(importer, NODE_SIDE) and within(target, HUB_SIDE):
        return "node-side code imports a hub-side module"
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return one cycle through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append([*sorted(group), sorted(group)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# --- the project as it is ----------------------------------------------------------


def test_the_import_graph_follows_the_rules() -> None:
    assert violations(ROOT) == []


def test_the_checker_sees_every_feature_and_the_sides_exist() -> None:
    found = modules(ROOT)
    assert features(ROOT) == {
        f"{CORE}.{name}" for name in ("kiosk", "sms", "voice", "sync", "hub", "api")
    }
    for name in NODE_SIDE | HUB_SIDE | PUBLIC_MODULES | COMPOSITION_ROOT:
        assert name in found, f"{name} is named in a rule but does not exist"


def test_relative_imports_resolve_to_modules() -> None:
    found = modules(ROOT)
    edges = {
        (e.importer, e.target)
        for name in (f"{CORE}.sync.node", f"{CORE}.hub.admin")
        for e in imports(name, found[name], set(found))
    }
    assert (f"{CORE}.sync.node", f"{CORE}.sync.wire") in edges  # from .wire import X
    assert (f"{CORE}.hub.admin", f"{CORE}.hub.users") in edges  # from . import users
    assert (f"{CORE}.hub.admin", f"{CORE}.sync.devices") in edges  # absolute


# --- a forbidden import is reported -----------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's Python sources and setup.cfg, to add modules to."""
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    for folder in package_folders(ROOT).values():
        for path in folder.rglob("*.py"):
            copy = tmp_path / path.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, copy)
    return tmp_path


@pytest.mark.parametrize(
    ("path", "source", "reported"),
    [
        (
            "participate/pricing.py",
            "from participate.hub import users\n",
            "participate.pricing -> participate.hub.users: the core imports a feature",
        ),
        (
            "participate/pricing.py",
            "def f():\n    from participate import sms\n",
            "participate.pricing -> participate.sms: the core imports a feature",
        ),
        (
            "kiosk/tally.py",
            "from participate.sync import receive\n",
            "participate.kiosk.tally -> participate.sync.receive: reaches into participate.sync",
        ),
        (
            "kiosk/tally.py",
            "from participate.sync.devices import get_device\n",
            "participate.kiosk.tally -> participate.sync.devices: node-side code imports",
        ),
        (
            "sync/pending.py",
            "from participate.sms.outbound import send_due\n",
            "participate.sync.pending -> participate.sms.outbound: reaches into participate.sms",
        ),
        (
            "sync/client_extra.py",
            "",  # replaced below: sync/client.py itself gains the import
            "participate.sync.client -> participate.sync.receive: node-side code imports",
        ),
        (
            "sms/quick.py",
            "import sms.outbound\n",
            "participate.sms.quick -> sms.outbound: bare feature name",
        ),
        (
            "hub/again.py",
            "from participate.app import create_app\n",
            "participate.hub.again -> participate.app: only the composition root",
        ),
        (
            "participate/answers_extra.py",
            "from participate import submissions\n",
            "import cycle: participate.answers_extra -> participate.submissions",
        ),
    ],
)
def test_a_forbidden_import_is_reported(tree: Path, path: str, source: str, reported: str):
    if path == "sync/client_extra.py":
        client = tree / "sync" / "client.py"
        client.write_text(client.read_text() + "\nfrom . import receive\n")
    else:
        (tree / path).write_text(source)
    if reported.startswith("import cycle"):
        # Close the loop: the module it imports imports it back.
        target = tree / "participate" / "submissions.py"
        target.write_text(target.read_text() + "\nfrom participate import answers_extra\n")
    problems = violations(tree)
    assert any(reported in problem for problem in problems), problems


def test_the_copy_is_clean_and_the_public_api_is_allowed(tree: Path) -> None:
    assert violations(tree) == []
    (tree / "hub" / "enrol.py").write_text(
        "from participate.sync import devices, schedule\nfrom participate import store\n"
    )
    (tree / "participate" / "cli_extra.py").write_text("")  # core, imports nothing
    assert violations(tree) == []
