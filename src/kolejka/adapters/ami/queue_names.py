"""Which kolejka queue an Asterisk queue is.

An Asterisk queue named by a positive integer (`2`) is the kolejka queue with that id. Any other
name needs a line in `KOLEJKA_AMI_QUEUES` (`support=7,sales=8`); a mapping also wins over a
numeric name (`2=5`). Callers of a queue that maps to no id are ignored: an id made up on the spot
would not survive a restart, nor match what the wallboards ask for.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kolejka.domain.queues import parse_id


class QueueNames:
    """Asterisk queue names to kolejka queue ids."""

    def __init__(self, mapping: Mapping[str, int] | None = None) -> None:
        self.mapping = MappingProxyType(dict(mapping or {}))

    @classmethod
    def parse(cls, text: str) -> QueueNames:
        """`support=7, sales=8` (the form of `KOLEJKA_AMI_QUEUES`); raises ValueError if bad."""
        mapping: dict[str, int] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            name, equals, number = item.rpartition("=")
            name = name.strip()
            queue_id = parse_id(number.strip())
            if not equals or not name:
                raise ValueError(f"KOLEJKA_AMI_QUEUES: {item.strip()!r} is not name=id")
            if queue_id is None:
                raise ValueError(f"KOLEJKA_AMI_QUEUES: {number.strip()!r} is not a queue id")
            if name in mapping:
                raise ValueError(f"KOLEJKA_AMI_QUEUES: {name!r} is mapped twice")
            mapping[name] = queue_id
        return cls(mapping)

    def queue_id(self, name: str) -> int | None:
        """The kolejka id of Asterisk queue `name`, or None when it has none."""
        mapped = self.mapping.get(name)
        return mapped if mapped is not None else parse_id(name)

    def name_of(self, queue_id: int) -> str:
        """Asterisk's name of kolejka queue `queue_id`: its mapping, else the id itself."""
        for name, mapped in self.mapping.items():
            if mapped == queue_id:
                return name
        return str(queue_id)

    def mapped_ids(self) -> frozenset[int]:
        """Ids that belong to Asterisk by configuration, whatever its queue list says."""
        return frozenset(self.mapping.values())
