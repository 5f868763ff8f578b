"""What no one-line text kolejka takes may hold, whoever sends it (the API, the CRM, the PBX).

C0 and C1 controls and DEL: C1 matters too, as str.strip() eats U+0085, which JSON Schema's \\s
(the OpenAPI document's patterns) does not count as a blank.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control(value: str) -> bool:
    """Whether `value` holds a C0 or C1 control, or DEL."""
    return _CONTROL.search(value) is not None
