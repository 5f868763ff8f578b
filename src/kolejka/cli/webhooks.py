"""`kolejka webhooks list|add|remove`: the webhooks API's registration, from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
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
