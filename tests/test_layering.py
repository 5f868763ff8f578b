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
