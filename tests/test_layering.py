"""The import rules of README's "Layout" section, read from the source with `ast`.

A module breaks a rule the moment it imports across a line, so each rule is a set of imports that
must be empty; a failure names every offending module and what it imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import kolejka

PACKAGE = Path(kolejka.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(name: str) -> bool:
    relative = Path(*name.split("."))
    folder = PACKAGE.parent / relative
    return (folder / "__init__.py").is_file() or folder.with_suffix(".py").is_file()


def _imported(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Every kolejka module `tree` imports, anywhere in it (TYPE_CHECKING and functions too)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from kolejka.adapters import sqlite` imports the module kolejka.adapters.sqlite.
                submodule = f"{base}.{alias.name}"
                yield submodule if _exists(submodule) else base


@cache
def imports() -> dict[str, frozenset[str]]:
    """Module name -> the kolejka modules it imports, for every module under src/kolejka."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names = _imported(tree, name, path.name == "__init__.py")
        found[name] = frozenset(n for n in names if n == "kolejka" or n.startswith("kolejka."))
    return found


def _inside(module: str, folder: str) -> bool:
    return module == folder or module.startswith(folder + ".")


def crossings(
    source: str, allowed: tuple[str, ...] = (), refused: tuple[str, ...] = ()
) -> list[str]:
    """`module -> imported` for each import from a module in `source` that breaks the rule:
    with `allowed`, anything outside those folders; with `refused`, anything inside them."""
    found = []
    for module, imported in imports().items():
        if not _inside(module, source):
            continue
        for target in sorted(imported):
            outside = allowed and not any(_inside(target, folder) for folder in allowed)
            inside = any(_inside(target, folder) for folder in refused)
            if outside or inside:
                found.append(f"{module} -> {target}")
    return found


def test_it_reads_every_module_of_the_package() -> None:
    # A walk that found nothing would pass every rule below.
    assert "kolejka.domain.crm" in imports()
    assert "kolejka.adapters.sql.crm_rows" in imports()
    assert "kolejka.domain.crm" in imports()["kolejka.services.crm"]


def test_the_domain_imports_nothing_of_kolejka_outside_the_domain() -> None:
    assert crossings("kolejka.domain", allowed=("kolejka.domain",)) == []


def test_the_services_import_only_the_domain_and_each_other() -> None:
    assert crossings("kolejka.services", allowed=("kolejka.domain", "kolejka.services")) == []


def test_observability_imports_only_the_domain_the_services_and_itself() -> None:
    allowed = ("kolejka.domain", "kolejka.services", "kolejka.observability")
    assert crossings("kolejka.observability", allowed=allowed) == []


def test_the_adapters_import_no_start_up_module() -> None:
    allowed = (
        "kolejka.domain",
        "kolejka.services",
        "kolejka.observability",
        "kolejka.adapters",
        "kolejka.settings",
    )
    assert crossings("kolejka.adapters", allowed=allowed) == []


ENGINES = tuple(f"kolejka.adapters.{engine}" for engine in ("sqlite", "postgres", "redis"))


def test_no_storage_engine_imports_another() -> None:
    # SQLite and PostgreSQL never import each other (nor Redis): what both need is in adapters/sql.
    for engine in ENGINES:
        others = tuple(other for other in ENGINES if other != engine)
        assert crossings(engine, refused=others) == []


def test_the_shared_sql_layer_imports_no_engine_folder() -> None:
    assert crossings("kolejka.adapters.sql", refused=ENGINES) == []


def test_the_package_root_holds_only_start_up() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == {"__init__", "__main__", "bootstrap", "settings", "demo"}


# The tests' own hygiene ----------------------------------------------------------------------
# A test module is a specification, not a library: what tests share lives in helper modules
# (tests/support.py, tests/multi/deployment.py, tests/contract/stores.py, ...), never in a
# `test_*` module or a conftest. And a test reads what a caller can: no `_private` attribute.

TESTS = Path(__file__).parent


def _test_modules(root: Path) -> Iterator[tuple[str, ast.Module]]:
    """(module name, syntax tree) of every module under `root` (the tests folder); a package's
    name ends in `.__init__`, so that relative imports resolve alike for both."""
    for path in sorted(root.rglob("*.py")):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _is_test_module(name: str, root: Path) -> bool:
    last = name.rpartition(".")[2]
    relative = Path(*name.split(".")).relative_to(root.name)
    return (last == "conftest" or last.startswith("test_")) and (
        (root / relative).with_suffix(".py").is_file()
    )


def imports_of_test_modules(root: Path = TESTS) -> set[tuple[str, str]]:
    """(importer, imported) for each import of a `test_*` module or a conftest under `root`."""
    found = set()
    for module, tree in _test_modules(root):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # `from . import conftest`, `from .conftest import x`
                    anchor = module.split(".")[: -node.level]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            found |= {(module, n) for n in names if n.startswith("tests.")}
    return {(module, name) for module, name in found if _is_test_module(name, root)}


def private_attributes(root: Path = TESTS) -> list[str]:
    """`module:line expression` for each `_private` attribute read or assigned under `root`
    (a dunder is no private attribute; `self._x` and `cls._x` are an object's own)."""
    found = []
    for module, tree in _test_modules(root):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__") and node.attr.endswith("__"):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    return found


def test_the_hygiene_walks_see_every_test_module() -> None:
    # A walk that found nothing would pass both rules below.
    modules = dict(_test_modules(TESTS))
    assert "tests.multi.test_faults" in modules
    assert "tests.contract.conftest" in modules
    assert _is_test_module("tests.http.test_ingest", TESTS)
    assert _is_test_module("tests.multi.conftest", TESTS)
    assert not _is_test_module("tests.multi.deployment", TESTS)
    assert ("tests.multi.conftest", "tests.multi.deployment") not in imports_of_test_modules()


def test_no_module_under_tests_imports_a_test_module_or_a_conftest() -> None:
    assert sorted(imports_of_test_modules()) == []


def test_no_test_reads_or_assigns_a_private_attribute() -> None:
    assert private_attributes() == []
