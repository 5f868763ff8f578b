"""Which kolejka agent (login) an Asterisk queue member is.

By default a member's `MemberName` (`Name` in a `QueueStatus` answer) is the agent's login, as
when members are added with `QueueAdd ... MemberName: jkowalski`. Where it is not (members named
by their extension, or left unnamed so that Asterisk names them by their interface), the map
`KOLEJKA_AMI_MEMBERS` (`PJSIP/201=jkowalski,Local/202@agents/n=anowak`) names the login of an
`Interface` (`Location`) or `StateInterface`, and wins over the member name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kolejka.domain.agents import is_login


class MemberNames:
    """Asterisk queue members to agent logins."""

    def __init__(self, mapping: Mapping[str, str] | None = None) -> None:
        self.mapping = MappingProxyType(dict(mapping or {}))

    @classmethod
    def parse(cls, text: str) -> MemberNames:
        """`PJSIP/201=jkowalski, ...` (the form of `KOLEJKA_AMI_MEMBERS`); ValueError if bad."""
        mapping: dict[str, str] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            interface, equals, login = item.rpartition("=")
            interface, login = interface.strip(), login.strip()
            if not equals or not interface:
                raise ValueError(f"KOLEJKA_AMI_MEMBERS: {item.strip()!r} is not interface=login")
            if not is_login(login):
                raise ValueError(
                    f"KOLEJKA_AMI_MEMBERS: {login!r} is not a login (1-64 letters, digits"
                    " or . _ @ + -)"
                )
            if interface in mapping:
                raise ValueError(f"KOLEJKA_AMI_MEMBERS: {interface!r} is mapped twice")
            mapping[interface] = login
        return cls(mapping)

    def login(self, name: str, interface: str, state_interface: str) -> str:
        """The login of a member: mapped by interface, else its name ("" if it has none)."""
        if self.mapping:
            for key in (interface, state_interface):
                mapped = self.mapping.get(key)
                if mapped is not None:
                    return mapped
        return name
