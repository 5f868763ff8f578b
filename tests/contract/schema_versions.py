"""A schema as an older kolejka left it, for the tests of a migration that rewrites rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from kolejka.adapters.postgres import database as postgres_database
from kolejka.adapters.sql.schema import migrations
from kolejka.adapters.sqlite import database as sqlite_database


@contextmanager
def schema_at(version: int) -> Iterator[None]:
    """Inside the block, both engines' `migrate` stops at `version`: write the rows an older
    kolejka wrote after it, then `migrate` again outside the block for the rest."""
    chosen = [(number, sql) for number, sql in migrations() if number <= version]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite_database, "migrations", lambda: chosen)
        patch.setattr(postgres_database, "migrations", lambda: chosen)
        yield
