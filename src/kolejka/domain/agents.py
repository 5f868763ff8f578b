"""PROVISIONAL stand-in for agents-core's module (replaced by its version at the merge)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

MAX_LOGIN = 64
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")


def is_login(text: str) -> bool:
    return _LOGIN.fullmatch(text) is not None


class AgentState(enum.StrEnum):
    OFF = "OFF"
    FREE = "FREE"
    PAUSED = "PAUSED"
    INBOUND_CALL = "INBOUND_CALL"
    OUTBOUND_CALL = "OUTBOUND_CALL"
    OUTBOUND_PREVIEW = "OUTBOUND_PREVIEW"
    CALL = "CALL"
    RINGING = "RINGING"


@dataclass(frozen=True, slots=True)
class Agent:
    agent_id: int
    login: str
    name: str
    surname: str
    email: str
    number: int | None
    active: bool
    queues: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Pause:
    pause_id: int
    name: str


@dataclass(frozen=True, slots=True)
class AgentStatus:
    login: str
    state: AgentState
    pause_id: int | None
    last_change: datetime
    queues: tuple[int, ...]
