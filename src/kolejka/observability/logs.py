"""Logging set-up: readable text for a terminal, one JSON object a line for log shippers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# A record's own attributes, and uvicorn's `color_message` (the message again, with terminal
# colour codes): neither is a field of the event.
_STANDARD = {*vars(logging.makeLogRecord({})), "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value if isinstance(value, (int, float, bool)) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """One line for a person: the message, then the record's fields (`username='admin'`)
    as the JSON log carries them, quoted with repr so a value cannot forge a line of its own.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = [
            f"{key}={value if isinstance(value, (int, float, bool)) else repr(str(value))}"
            for key, value in vars(record).items()
            if key not in _STANDARD and key not in ("message", "asctime")
        ]
        return " ".join([line, *fields])


def configure(level: str = "INFO", format: str = "text") -> None:
    handler = logging.StreamHandler()
    if format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
