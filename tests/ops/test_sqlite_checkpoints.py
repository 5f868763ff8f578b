"""The service copies SQLite's write-ahead log into the file off the event loop."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from kolejka.adapters.sqlite.database import Database


def big_commit_from_another_process(path: Path) -> None:
    """An import's commit: many pages in the log, and nobody copies them (no autocheckpoint)."""
    importer = sqlite3.connect(path, isolation_level=None)
    importer.execute("PRAGMA wal_autocheckpoint = 0")
    importer.execute("CREATE TABLE IF NOT EXISTS bulk (payload BLOB)")
    importer.execute("BEGIN IMMEDIATE")
    importer.executemany("INSERT INTO bulk VALUES (?)", ((os.urandom(200),) for _ in range(20_000)))
    importer.execute("COMMIT")
    importer.close()


async def test_the_log_of_another_processs_commit_reaches_the_file_without_a_write_of_ours(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kolejka.db"
    db = Database(str(path))
    db.migrate()
    before = path.stat().st_size
    checkpoints = asyncio.create_task(db.checkpoints(interval=0.02))
    try:
        await asyncio.sleep(0.05)
        # Our own commits no longer checkpoint (they would do it on the event loop's thread).
        assert db.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        await asyncio.to_thread(big_commit_from_another_process, path)
        for _ in range(250):
            if path.stat().st_size > before + 2_000_000:
                break
            await asyncio.sleep(0.02)
        assert path.stat().st_size > before + 2_000_000  # 20,000 rows of 200 bytes, copied
    finally:
        checkpoints.cancel()
        await asyncio.gather(checkpoints, return_exceptions=True)
    assert db.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    db.close()
