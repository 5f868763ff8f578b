"""`PbxControl` over AMI: QueuePause, QueueAdd and QueueRemove on the listener's live connection.

Each action is answered once Asterisk has answered it (`Response: Success` or `Error`, matched by
ActionID); what the action changed then arrives as the usual member events
(`QueueMemberPause`, `QueueMemberAdded`, `QueueMemberRemoved`), which the listener applies like
any other. The AMI user needs `write = agent` for these actions (docs/pbx-asterisk.md); without
it Asterisk answers `Permission denied`, reported as a refusal, and reading goes on as before.

An agent's interface (`PJSIP/201`, `Local/jkowalski@agents/n`) is the one Asterisk last reported
for the agent's member; else the one `KOLEJKA_AMI_MEMBERS` maps to the login; else, for an agent
Asterisk has not reported yet, `KOLEJKA_AMI_MEMBER_INTERFACE`, a template such as
`PJSIP/{number}` (no template: refused).
"""

from __future__ import annotations

import logging

from kolejka.adapters.ami.connection import ConnectionLost
from kolejka.adapters.ami.listener import AmiListener, NotConnected
from kolejka.adapters.ami.protocol import Packet
from kolejka.domain.errors import NoPbxInterface, PbxRefused, PbxUnavailable

log = logging.getLogger(__name__)

LINK_DOWN = "the PBX link is down on this instance (or another instance holds it)"
NO_ANSWER = "the PBX did not confirm in time; the agent's status shows whether it happened"
# What Asterisk answers when the wanted state is there already: no error for us.
_ALREADY_MEMBER = "already there"
_NOT_MEMBER = "not there"
_MAX_REASON = 200


class AmiControl:
    """Queue-member actions through `listener`'s connection."""

    def __init__(self, listener: AmiListener) -> None:
        self.listener = listener
        self.interface_template = listener.config.member_interface

    async def pause(self, login: str, reason: str) -> None:
        # No Queue: Asterisk pauses the interface in every queue it is a member of.
        fields = {"Interface": self._interface(login, None), "Paused": "true"}
        fields["Reason"] = _one_line(reason)
        await self._act("QueuePause", fields)

    async def unpause(self, login: str) -> None:
        fields = {"Interface": self._interface(login, None), "Paused": "false"}
        await self._act("QueuePause", fields)

    async def add_member(self, login: str, number: int | None, queue_id: int) -> None:
        fields = {
            "Queue": self.listener.config.queues.name_of(queue_id),
            "Interface": self._interface(login, number),
            "MemberName": login,
            "Paused": "false",
        }
        await self._act("QueueAdd", fields, fine=_ALREADY_MEMBER)

    async def remove_member(self, login: str, queue_id: int) -> None:
        fields = {
            "Queue": self.listener.config.queues.name_of(queue_id),
            "Interface": self._interface(login, None),
        }
        await self._act("QueueRemove", fields, fine=_NOT_MEMBER)

    def _interface(self, login: str, number: int | None) -> str:
        if self.listener.connection is None:  # the link first: no interface helps without it
            raise PbxUnavailable(LINK_DOWN)
        interface = self.listener.interfaces.get(login) or self._mapped(login)
        if interface is None and self.interface_template:
            if "{number}" in self.interface_template and number is None:
                raise NoPbxInterface(login)
            interface = self.interface_template.format(login=login, number=number)
        if not interface or any(c in interface for c in "\r\n"):
            raise NoPbxInterface(login)
        return interface

    def _mapped(self, login: str) -> str | None:
        """The interface KOLEJKA_AMI_MEMBERS maps to `login`, if one does."""
        for interface, mapped in self.listener.config.members.mapping.items():
            if mapped == login:
                return interface
        return None

    async def _act(self, action: str, fields: dict[str, str], fine: str = "") -> None:
        try:
            answer = await self.listener.request(action, fields)
        except NotConnected:
            raise PbxUnavailable(LINK_DOWN) from None
        except (TimeoutError, ConnectionLost, ConnectionError):
            raise PbxUnavailable(NO_ANSWER, confirmed_nothing=False) from None
        if answer.get("Response") == "Success":
            log.info("Asterisk did %s for %s", action, fields.get("Interface", "")[:80])
            return
        message = _message(answer)
        if fine and fine in message.lower():
            return
        log.warning("Asterisk refused %s for %s: %s", action, fields.get("Interface", ""), message)
        raise PbxRefused(action, message)


def _message(packet: Packet) -> str:
    return packet.get("Message", "no reason given")[:_MAX_REASON]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:_MAX_REASON]
