"""Thulium's JSON on the wire: compact, UTF-8, keys in the order given."""

from __future__ import annotations

import json


def to_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
