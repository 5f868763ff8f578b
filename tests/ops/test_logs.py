"""The log formats: a record's fields follow its message, and nothing that is not a field."""

from __future__ import annotations

import json
import logging

from kolejka.observability.logs import JsonFormatter, TextFormatter


def record(**extra: object) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "uvicorn.error", "msg": "Uvicorn running", **extra})


def test_uvicorns_coloured_copy_of_the_message_is_no_field_of_either_format() -> None:
    # uvicorn logs `color_message`, the message again with terminal colour codes.
    coloured = record(color_message="Uvicorn running on \x1b[1m%s\x1b[0m", port=8000)

    text = TextFormatter().format(coloured)
    entry = json.loads(JsonFormatter().format(coloured))

    assert "color_message" not in text
    assert "\\x1b" not in text
    assert text.endswith("uvicorn.error: Uvicorn running port=8000")
    assert "color_message" not in entry
    assert entry["port"] == 8000
