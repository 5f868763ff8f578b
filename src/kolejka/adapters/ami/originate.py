"""Callbacks through Asterisk: `Originate` with `Async: true` on the listener's live link.

The customer's leg is `KOLEJKA_CALLBACK_CHANNEL` (`PJSIP/{number}@trunk`); once the customer
answers, Asterisk runs the queue's entry point (`Context`/`Exten`, see `entry`), whose dialplan
puts the call into the queue (docs/pbx-asterisk.md). Asterisk confirms at once
(`Originate successfully queued`) and tells the outcome later as `OriginateResponse` with the
same ActionID: `Reason: 4` answered, 5 busy, 3 no answer, 8 congestion, 0 no such channel.

The AMI user needs `write = originate`; without it Asterisk answers `Permission denied`, the
callback goes back untried, and /health and the log say why callbacks cannot run.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kolejka.adapters.ami.connection import ConnectionLost
from kolejka.adapters.ami.listener import AmiListener, NotConnected
from kolejka.domain.callbacks import Callback, DialOutcome, outcome_of_reason
from kolejka.domain.phone import PhoneNumbers
from kolejka.domain.queues import parse_id
from kolejka.services.callbacks import NotDialled
from kolejka.services.ports import QueueDirectory
from kolejka.settings import Settings

log = logging.getLogger(__name__)

DENIED = (
    "the AMI user may not Originate: add 'originate' to its write= line in manager.conf"
    " (docs/pbx-asterisk.md)"
)
LINK_DOWN = "the PBX link is down on this instance"
NO_CHANNEL = "KOLEJKA_CALLBACK_CHANNEL is not set"
# Asterisk's answer when the manager user lacks the action's write class.
_PERMISSION_DENIED = "permission denied"
# What may stand in an AMI header value we build: no line breaks, and in the caller id no quotes
# or angle brackets that would end the name or the number early.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\"<>]")
_ENTRY = re.compile(r"^([^@\s]+)@([^@\s]+)$")
# How long a queue's name in the CallerID is taken as known: a burst of callbacks asks the
# store once a second, not once an Originate, and a renamed queue shows within a second.
QUEUE_NAME_SECONDS = 1.0


@dataclass(frozen=True)
class OriginateConfig:
    """The KOLEJKA_CALLBACK_* settings the Originate is built from, checked once."""

    channel: str  # e.g. `PJSIP/{number}@trunk`
    context: str = "kolejka-callback"
    # Per queue id: (exten, context); others use (Asterisk's queue name, `context`).
    entries: dict[int, tuple[str, str]] = field(default_factory=dict)
    caller_id: str = '"{queue}" <{number}>'
    ring_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginateConfig | None:
        """None when KOLEJKA_CALLBACK_CHANNEL is unset; ValueError naming a wrong setting."""
        channel = settings.callback_channel.strip()
        if not channel:
            return None
        sample = {"number": "500333222", "e164": "+48500333222", "digits": "48500333222"}
        for name, template in (
            ("KOLEJKA_CALLBACK_CHANNEL", channel),
            ("KOLEJKA_CALLBACK_CALLER_ID", settings.callback_caller_id),
        ):
            try:
                template.format(**sample, queue="Q", queue_id=2, callback_id=1)
            except (KeyError, IndexError, ValueError):
                raise ValueError(
                    f"{name} may name only {{number}}, {{e164}}, {{digits}}, {{queue}},"
                    " {queue_id} and {callback_id}"
                ) from None
            if "\r" in template or "\n" in template:
                raise ValueError(f"{name} cannot contain a line break")
        if "{" not in channel:
            raise ValueError(
                "KOLEJKA_CALLBACK_CHANNEL must name the number, e.g. PJSIP/{number}@trunk"
            )
        entries: dict[int, tuple[str, str]] = {}
        for item in filter(None, (p.strip() for p in settings.callback_entry.split(","))):
            queue, _, target = item.partition("=")
            queue_id = parse_id(queue.strip())
            found = _ENTRY.match(target.strip())
            if queue_id is None or found is None:
                raise ValueError(
                    "KOLEJKA_CALLBACK_ENTRY is queue_id=exten@context, comma-separated,"
                    f" e.g. 2=2@from-callback; not {item[:60]!r}"
                )
            entries[queue_id] = (found.group(1), found.group(2))
        context = settings.callback_context.strip()
        if not context or _UNSAFE.search(context):
            raise ValueError("KOLEJKA_CALLBACK_CONTEXT must be a dialplan context name")
        return cls(
            channel=channel,
            context=context,
            entries=entries,
            caller_id=settings.callback_caller_id,
            ring_seconds=settings.callback_ring_seconds,
        )


class AmiCallbackDialer:
    """Satisfies ports.CallbackDialer over `listener`'s connection."""

    def __init__(
        self,
        listener: AmiListener,
        config: OriginateConfig,
        queues: QueueDirectory,
        phones: PhoneNumbers,
    ) -> None:
        self.listener = listener
        self.config = config
        self.queues = queues
        self.phones = phones
        # Set when Asterisk said `Permission denied`; cleared when an Originate goes through
        # (after manager.conf is fixed and reloaded, the next try succeeds).
        self.denied = False
        # While denied, one try every this often (one batch), not every round.
        self.retry_denied_seconds = 30.0
        self._denied_at = 0.0
        self.monotonic: Callable[[], float] = time.monotonic  # tests move it
        self._queue_names: dict[int, tuple[float, str]] = {}  # id -> (known until, name)

    @property
    def ready(self) -> bool:
        if self.listener.connection is None:
            return False
        return not self.denied or time.monotonic() >= self._denied_at + self.retry_denied_seconds

    def status(self) -> tuple[str, str]:
        """For /health: `denied`, `waiting` (for the link) or `ready`, and why."""
        if self.denied:
            return "denied", DENIED
        return ("ready", "") if self.listener.connection is not None else ("waiting", LINK_DOWN)

    async def fields(self, callback: Callback) -> dict[str, str]:
        """The Originate's fields, in the order they go out."""
        values = {
            # Stored in normal form: no parse (it is the bulk of an Originate's CPU otherwise).
            "number": self.phones.display_normal(callback.phone_number),
            "e164": callback.phone_number,
            "digits": callback.phone_number.lstrip("+"),
            "queue": await self._queue_name(callback.queue_id),
            "queue_id": callback.queue_id,
            "callback_id": callback.callback_id,
        }
        exten, context = self.config.entries.get(
            callback.queue_id,
            (self.listener.config.queues.name_of(callback.queue_id), self.config.context),
        )
        return {
            "Channel": _one_line(self.config.channel.format(**values)),
            "Context": _one_line(context),
            "Exten": _one_line(exten),
            "Priority": "1",
            "CallerID": _one_line(self.config.caller_id.format(**values)),
            "Timeout": str(int(self.config.ring_seconds * 1000)),
            "Variable": f"KOLEJKA_CALLBACK_ID={callback.callback_id}",
            "Async": "true",
        }

    async def _queue_name(self, queue_id: int) -> str:
        now = self.monotonic()
        known = self._queue_names.get(queue_id)
        if known is not None and now < known[0]:
            return known[1]
        queue = await self.queues.get(queue_id)
        name = _safe(queue.name if queue else str(queue_id))
        self._queue_names[queue_id] = (now + QUEUE_NAME_SECONDS, name)
        return name

    async def dial(self, callback: Callback) -> DialOutcome:
        fields = await self.fields(callback)
        try:
            answer, event = await self.listener.request_and_event(
                "Originate", fields, self.config.ring_seconds + 30
            )
        except NotConnected:
            raise NotDialled(LINK_DOWN) from None
        except (TimeoutError, ConnectionLost, ConnectionError):
            # It may ring now or have rung: counted as an attempt whose outcome was lost.
            return DialOutcome.LOST
        if event is None:
            message = answer.get("Message", "")
            if _PERMISSION_DENIED in message.lower():
                if not self.denied:
                    log.error("callbacks cannot run: %s", DENIED)
                self.denied = True
                self._denied_at = time.monotonic()
                raise NotDialled(DENIED)
            log.warning(
                "Asterisk refused the Originate of callback %d: %s",
                callback.callback_id,
                message[:200],
            )
            return DialOutcome.FAILED
        if self.denied:
            log.info("Asterisk accepts Originate again: callbacks run")
        self.denied = False
        outcome = outcome_of_reason(event.get("Reason", ""))
        log.info(
            "callback %d in queue %d: %s (Reason %s)",
            callback.callback_id,
            callback.queue_id,
            outcome.value,
            event.get("Reason", "")[:8],
        )
        return outcome


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _safe(text: str) -> str:
    return _UNSAFE.sub("", text)[:80]
