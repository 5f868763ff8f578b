"""`kolejka agents add|list|remove` and `kolejka agents pauses`: the agent catalogue by hand.

Agents the PBX reports are added by themselves (login only); `add` names them beforehand, with
the queues `POST agents/:login/login` logs them in to. A running service hears of the change on
its change feed (or, on SQLite alone, from the file).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kolejka.bootstrap import Components, build
from kolejka.domain.agents import NewAgent
from kolejka.domain.errors import AgentExists, InvalidField
from kolejka.domain.queues import parse_id
from kolejka.settings import Settings

T = TypeVar("T")


def add_agents_verbs(verbs: Any) -> None:
    agents = verbs.add_parser("agents", help="administer agents").add_subparsers(
        required=True, metavar="ACTION"
    )
    add = agents.add_parser("add", help="add an agent")
    add.add_argument("login", help="1-64 letters, digits or . _ @ + - (the PBX's member name)")
    add.add_argument("--name", default="")
    add.add_argument("--surname", default="")
    add.add_argument("--email", default="")
    add.add_argument("--number", help="the agent's phone number (digits)")
    add.add_argument("--queues", default="", help="queue ids the agent logs in to, e.g. 2,7")
    add.add_argument("--inactive", action="store_true", help="an account that is not active")
    add.set_defaults(run=_add)
    agents.add_parser("list", help="list agents and their states").set_defaults(run=_list)
    remove = agents.add_parser("remove", help="remove an agent")
    remove.add_argument("login")
    remove.set_defaults(run=_remove)
    agents.add_parser("pauses", help="list the pause reasons").set_defaults(run=_pauses)


def _run(settings: Settings, work: Callable[[Components], Awaitable[T]]) -> T:
    components = build(settings)

    async def run() -> T:
        try:
            return await work(components)
        except (InvalidField, AgentExists) as error:
            raise ValueError(str(error)) from None
        finally:
            await components.aclose()

    return asyncio.run(run())


def _number(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    digits = text.strip().removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or len(digits) > 15:
        raise ValueError(f"a number is up to 15 digits, not {text!r}")
    return int(digits)


def _queues(text: str) -> tuple[int, ...]:
    queues = []
    for item in text.split(","):
        if item.strip():
            queue_id = parse_id(item.strip())
            if queue_id is None:
                raise ValueError(f"a queue id is a positive integer, not {item.strip()!r}")
            queues.append(queue_id)
    return tuple(queues)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    agent = NewAgent(
        login=args.login,
        name=args.name,
        surname=args.surname,
        email=args.email,
        number=_number(args.number),
        active=not args.inactive,
        queues=_queues(args.queues),
    )
    added = _run(settings, lambda c: c.agents.add(agent))
    print(f"added agent {added.login} (agent_id {added.agent_id})")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    async def read(components: Components) -> list[str]:
        states = {s.login: s for s in await components.agents.statuses()}
        lines = []
        for agent in await components.agents.all():
            status = states.get(agent.login)
            lines.append(
                "\t".join(
                    [
                        str(agent.agent_id),
                        agent.login,
                        agent.name,
                        agent.surname,
                        agent.email,
                        "" if agent.number is None else str(agent.number),
                        ",".join(map(str, agent.queues)),
                        "active" if agent.active else "inactive",
                        status.state.value if status else "OFF",
                    ]
                )
            )
        return lines

    for line in _run(settings, read):
        print(line)
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    if not _run(settings, lambda c: c.agents.remove(args.login)):
        raise ValueError(f"no agent {args.login}")
    print(f"removed agent {args.login}")
    return 0


def _pauses(args: argparse.Namespace, settings: Settings) -> int:
    for pause in _run(settings, lambda c: c.agents.pauses()):
        print(f"{pause.pause_id}\t{pause.name}")
    return 0
