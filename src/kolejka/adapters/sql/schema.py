"""The migrations both SQL engines apply: one set of SQL templates, rendered per dialect."""

from __future__ import annotations

from importlib import resources


def migrations() -> list[tuple[int, str]]:
    """(version, SQL template) of every migration shipped with the package, in order."""
    folder = resources.files("kolejka.adapters.sql") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def render(template: str, dialect: dict[str, str]) -> str:
    """The migration in one engine's SQL: `{identity}` and the like replaced, nothing else.

    Plain replacement, not str.format, so SQL may use braces (JSON literals) freely.
    """
    for placeholder, spelling in dialect.items():
        template = template.replace("{" + placeholder + "}", spelling)
    return template
