"""The `kolejka` command line, run as the real command in a subprocess; and a CRM file for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# Two persons (one with two numbers) and a company, as `kolejka crm import` reads them.
CSV = """identifier,name,surname,phone_number,email,company_flag,nip
C1,Jan,Kowalski,746842523,jan@example.com,,
C2,Anna,Nowak,"+48 601 100 200; 22 123 45 67",,,
F1,ACME Sp. z o.o.,,613459852,,1,779-000-00-00
"""


def kolejka_at(
    url: str, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs the `kolejka` command line against the database at `url` (and settings in `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "kolejka", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"KOLEJKA_DATABASE_URL": url, "PATH": "/usr/bin:/bin", **(env or {})},
        timeout=60,
        check=False,
    )


def kolejka(
    database: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs the `kolejka` command line against the SQLite file `database`."""
    return kolejka_at(f"sqlite:///{database}", *args, stdin=stdin, env=env)


def interrupt_an_import_halfway(
    url: str,
    folder: Path,
    workers: str,
    sig: signal.Signals = signal.SIGINT,
    group: bool = False,
) -> tuple[int, str, str]:
    """Starts importing 60,001 rows (one changes C1), sends `sig` at half the file: to the
    command, or with `group` to its whole process group, workers too, as a terminal's Ctrl-C
    or `systemctl stop` does.

    Staging files that do not go beside the database (PostgreSQL's) go to `folder` (TMPDIR).
    Returns the command's exit status, stdout and stderr.
    """
    big = folder / "big.csv"
    with big.open("w", encoding="utf-8") as file:
        file.write("identifier,name,surname,phone_number\n")
        file.write("C1,Jan,Changed,746842523\n")  # an update that must not land either
        for i in range(60_000):  # 12 chunks: the progress lines miss no tenth
            file.write(f"B{i},Imię,Nazwisko{i},{500_000_000 + i};{600_000_000 + i}\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "kolejka", "crm", "import", str(big), "--workers", workers],
        env={"KOLEJKA_DATABASE_URL": url, "PATH": "/usr/bin:/bin", "TMPDIR": str(folder)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # halfway through reading the file
        line = process.stderr.readline()
        if "read 50%" in line:
            break
        assert line, "the import ended before reading half the file"
    if group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


def assert_stopped_without_a_trace(
    returncode: int, out: str, err: str, sig: signal.Signals
) -> None:
    """What the command says when `sig` stopped it halfway: its exit status and that nothing
    was imported (SIGTERM also without a traceback)."""
    if sig is signal.SIGINT:
        assert returncode == 130, out + err
        assert "nothing was imported" in err
    else:
        assert returncode == 143, out + err
        assert "stopped by SIGTERM; nothing was imported" in err
        assert "Traceback" not in err
