"""`kolejka webhooks list|add|remove`: the webhooks API's registration, from the command line;
`kolejka webhooks deliver`: a process that only delivers (docs/webhooks.md, "Delivery
processes")."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from kolejka.bootstrap import build
from kolejka.domain.errors import DomainError
from kolejka.domain.queues import parse_id
from kolejka.services.webhooks import Webhooks
from kolejka.settings import Settings


def add_webhook_verbs(verbs: Any) -> None:
    webhooks = verbs.add_parser("webhooks", help="webhook subscriptions").add_subparsers(
        required=True, metavar="ACTION"
    )
    webhooks.add_parser("list", help="list webhook subscriptions").set_defaults(run=_list)
    add = webhooks.add_parser(
        "add", help="subscribe a URL to actions (prints the signing secret once)"
    )
    add.add_argument("url")
    add.add_argument("action", nargs="+", help="e.g. CALLER_JOINED CALLER_LEFT")
    add.add_argument(
        "--user", default="", help="HTTP Basic user sent with each request (password: stdin)"
    )
    add.set_defaults(run=_add)
    remove = webhooks.add_parser("remove", help="remove a webhook subscription")
    remove.add_argument("webhook_id")
    remove.set_defaults(run=_remove)
    deliver = webhooks.add_parser(
        "deliver",
        help="deliver webhook events and nothing else (with KOLEJKA_WEBHOOK_DELIVER=0 on serve)",
    )
    deliver.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the subscriptions between them (default 1)",
    )
    deliver.add_argument("--share", help=argparse.SUPPRESS)  # a worker's "index/count"
    deliver.set_defaults(run=_deliver)


def _webhooks(settings: Settings) -> Webhooks:
    webhooks = build(settings).webhooks
    assert webhooks is not None
    return webhooks


def _list(args: argparse.Namespace, settings: Settings) -> int:
    for found in asyncio.run(_webhooks(settings).all()):
        print(f"{found.webhook_id}\t{found.subscription_url}\t{' '.join(found.actions)}")
    return 0


def _add(args: argparse.Namespace, settings: Settings) -> int:
    password = ""
    if args.user:
        if sys.stdin.isatty():
            password = getpass.getpass(f"Basic password for {args.user}: ")
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    values = {
        "actions": args.action,
        "subscription_url": args.url,
        "http_auth_user": args.user,
        "http_auth_password": password,
    }
    try:
        added, secret = asyncio.run(_webhooks(settings).register(values))
    except DomainError as error:
        raise ValueError(str(error)) from error
    print(f"added webhook {added.webhook_id}")
    print(f"secret: {secret}  (shown only now: it checks the X-Kolejka-Signature header)")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    webhook_id = parse_id(args.webhook_id)
    if webhook_id is None:
        raise ValueError(f"a webhook id is a positive integer, not {args.webhook_id!r}")
    try:
        asyncio.run(_webhooks(settings).remove(webhook_id))
    except DomainError as error:
        raise ValueError(str(error)) from error
    print(f"removed webhook {webhook_id}")
    return 0


def _deliver(args: argparse.Namespace, settings: Settings) -> int:
    """Delivers until SIGTERM or SIGINT. With --workers N, N processes each take the
    subscriptions whose id modulo N is theirs (under the same leases, so with further
    `deliver` processes elsewhere still no event goes out twice)."""
    if not 1 <= args.workers <= 64:
        raise ValueError("--workers must be between 1 and 64")
    if args.workers > 1:
        return _deliver_in_workers(args.workers)
    share = (0, 1)
    if args.share:
        index, _, count = args.share.partition("/")
        share = (int(index), int(count))
    # Its own lease holder, even beside a `kolejka serve` of the same KOLEJKA_INSTANCE_NAME.
    name = settings.instance_name or socket.gethostname()
    settings = dataclasses.replace(settings, instance_name=f"{name}:deliver:{os.getpid()}")
    components = build(settings)
    delivery, webhooks = components.delivery, components.webhooks
    assert delivery is not None
    assert webhooks is not None
    if webhooks.sealer is None:
        components.close()
        raise ValueError("set KOLEJKA_WEBHOOK_KEY first: without it there is nothing to deliver")
    delivery.settings = dataclasses.replace(delivery.settings, share=share)
    print(f"kolejka delivering webhooks (share {share[0]}/{share[1]})", flush=True)

    async def until_stopped() -> None:
        jobs = [*components.store_jobs, delivery.run]
        tasks: list[asyncio.Future[None]] = [asyncio.ensure_future(job()) for job in jobs]
        stopping: list[bool] = []

        def stop() -> None:
            # Once (SIGINT reaches a terminal's whole process group, and the --workers parent
            # sends SIGTERM too): a second cancel would cut short delivery's own ending.
            if not stopping:
                stopping.append(True)
                for task in tasks:
                    task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop)
        # Every job to its end (delivery releases its leases and closes its connections); one
        # that fails stops the others.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise RuntimeError("a delivery job failed") from task.exception()

    try:
        # On uvloop, as `kolejka serve` runs (uvicorn[standard] brings it): measured 2,805 and
        # 2,975 deliveries a second on asyncio's loop against 3,771 and 3,256 on uvloop
        # (alternating, one process, 10 subscribers, a loaded 2-core machine).
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(until_stopped())
    finally:
        components.close()
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it where it builds
        return None
    return uvloop.new_event_loop


def _deliver_in_workers(count: int) -> int:
    """Starts `count` delivering processes and stops them all when one ends or on a signal."""
    command = [sys.executable, "-m", "kolejka", "webhooks", "deliver"]
    workers = [
        subprocess.Popen([*command, "--share", f"{index}/{count}"]) for index in range(count)
    ]

    def stop(*_: object) -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        os.wait()  # the first worker to end ends them all: a supervisor restarts the lot
    except ChildProcessError:
        pass
    finally:
        stop()
        codes = [worker.wait() for worker in workers]
    return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1
