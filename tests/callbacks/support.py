"""What the callback tests share: a dialer that answers every attempt and records the numbers it
dialled, and one round of a dialler."""

from __future__ import annotations

from kolejka.domain.callbacks import Callback, DialOutcome
from kolejka.services.callbacks import CallbackDialling


class Dialer:
    ready = True

    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def dial(self, callback: Callback) -> DialOutcome:
        self.dialled.append(callback.phone_number)
        return DialOutcome.ANSWERED


async def round_of(dialling: CallbackDialling) -> None:
    await dialling.tick()
    await dialling.drain()
