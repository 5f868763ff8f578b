"""The `kolejka` command: run the service, and administer queues, agents and API users."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import sys
from collections.abc import Sequence

from kolejka.bootstrap import build, create_app
from kolejka.cli.agents import add_agents_verbs
from kolejka.cli.crm import add_crm_verbs
from kolejka.cli.history import add_history_verbs
from kolejka.cli.webhooks import add_webhook_verbs
from kolejka.domain.errors import StoreUnavailable
from kolejka.domain.permissions import InvalidPermission
from kolejka.domain.queues import Queue, parse_id
from kolejka.observability import logs
from kolejka.services.wallboard_tokens import WallboardTokens
from kolejka.settings import Settings

log = logging.getLogger("kolejka")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except (ValueError, OSError) as error:
        print(f"kolejka: bad configuration: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        result: int = args.run(args, settings)
    except (ValueError, InvalidPermission) as error:
        print(f"kolejka: {error}", file=sys.stderr)
        return 1
    except (StoreUnavailable, OSError) as error:
        print(f"kolejka: the database or Redis is unreachable: {error}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kolejka", description=__doc__)
    verbs = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = verbs.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--demo", action="store_true", help="seed demo data and simulate callers")
    serve.add_argument("--host", help="listen address (default: KOLEJKA_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default: KOLEJKA_PORT)")
    serve.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    serve.set_defaults(run=_serve)

    ami = verbs.add_parser(
        "ami", help="follow Asterisk's queues over AMI, without the HTTP API (KOLEJKA_AMI_*)"
    )
    ami.set_defaults(run=_ami)

    migrate = verbs.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(run=_migrate)

    users = verbs.add_parser("users", help="administer API users").add_subparsers(
        required=True, metavar="ACTION"
    )
    add = users.add_parser("add", help="add an API user (password from stdin or a prompt)")
    add.add_argument("username")
    add.add_argument(
        "-p",
        "--permission",
        action="append",
        default=[],
        help="'*' or e.g. 'GET queues/:id/waiting_list'; repeat for more",
    )
    add.set_defaults(run=_users_add)
    users.add_parser("list", help="list API users and their permissions").set_defaults(
        run=_users_list
    )
    passwd = users.add_parser("passwd", help="set a new password")
    passwd.add_argument("username")
    passwd.set_defaults(run=_users_passwd)
    perms = users.add_parser("permissions", help="replace an API user's permissions")
    perms.add_argument("username")
    perms.add_argument("permission", nargs="*")
    perms.set_defaults(run=_users_permissions)
    remove = users.add_parser("remove", help="remove an API user")
    remove.add_argument("username")
    remove.set_defaults(run=_users_remove)

    queues = verbs.add_parser("queues", help="administer queues").add_subparsers(
        required=True, metavar="ACTION"
    )
    qadd = queues.add_parser("add", help="add or rename a queue")
    qadd.add_argument("queue_id")
    qadd.add_argument("name")
    qadd.set_defaults(run=_queues_add)
    queues.add_parser("list", help="list queues").set_defaults(run=_queues_list)
    qremove = queues.add_parser("remove", help="remove a queue and its waiting callers")
    qremove.add_argument("queue_id")
    qremove.set_defaults(run=_queues_remove)

    add_crm_verbs(verbs)
    add_agents_verbs(verbs)
    add_history_verbs(verbs)
    add_webhook_verbs(verbs)

    wallboard = verbs.add_parser("wallboard", help="wallboard tokens").add_subparsers(
        required=True, metavar="ACTION"
    )
    token = wallboard.add_parser("token", help="make a read-only wallboard token for a screen")
    token.add_argument(
        "name", nargs="?", default="screen", help="names the screen (default: screen)"
    )
    token.set_defaults(run=_wallboard_token)
    wallboard.add_parser("list", help="list wallboard tokens").set_defaults(run=_wallboard_list)
    revoke = wallboard.add_parser("revoke", help="revoke a wallboard token")
    revoke.add_argument("name")
    revoke.set_defaults(run=_wallboard_revoke)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from kolejka import demo
    from kolejka.adapters.http.server import GuardedHttpToolsProtocol, StoppingServer

    components = build(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    if args.demo:
        asyncio.run(demo.seed(components))
        components.background.append(lambda: demo.simulate(components))
    scheme = "https" if args.ssl_certfile else "http"
    print(f"kolejka serving on {scheme}://{host}:{port}/api/queues/2/waiting_list", flush=True)
    print(f"wallboard: {scheme}://{host}:{port}/wallboard", flush=True)
    if args.demo:
        print(f"demo API user: {demo.DEMO_USER} / {demo.DEMO_PASSWORD}", flush=True)
        print(
            f"try: curl -u {demo.DEMO_USER}:{demo.DEMO_PASSWORD} "
            f"{scheme}://{host}:{port}/api/queues/2/waiting_list",
            flush=True,
        )
    app = create_app(components)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        server_header=False,
        http=GuardedHttpToolsProtocol.configured(
            settings.max_header_bytes,
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
        ),
        # uvicorn's proxy middleware only when a proxy is trusted: it rewrites the client
        # address (which the login throttle counts) and costs every request a pass over its
        # headers.
        proxy_headers=bool(settings.trusted_proxies.strip()),
        forwarded_allow_ips=settings.trusted_proxies.strip(),
        # Event streams end as the server stops (app.on_server_stop); other answers get this long.
        timeout_graceful_shutdown=1,
    )
    StoppingServer(config, app.on_server_stop).run()
    components.close()
    return 0


def _ami(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    components = build(settings)
    listener = components.ami
    if listener is None:
        components.close()
        raise ValueError("set KOLEJKA_AMI_HOST and the other KOLEJKA_AMI_* settings first")
    print(f"kolejka following Asterisk's queues at {listener.config.where}", flush=True)

    async def until_stopped() -> None:
        # With several instances (PostgreSQL, Redis) it takes its turn under the AMI lease, as
        # `kolejka serve` does, so it never runs beside another instance's listener.
        job = components.leadership.run if components.leadership else listener.run
        task = asyncio.ensure_future(job())
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await components.history.flush_before_stop()  # the calls of the last burst

    try:
        asyncio.run(until_stopped())
    finally:
        components.close()
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    components.close()
    print("migrations applied")
    return 0


def _read_password(prompt: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise ValueError("the passwords differ")
    return first


def _users_add(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    password = _read_password(f"password for {args.username}: ")
    asyncio.run(components.api_users.add(args.username, password, args.permission))
    print(f"added API user {args.username}")
    return 0


def _users_list(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    for user in asyncio.run(components.api_users.all()):
        print(f"{user.username}\t{', '.join(user.permissions) or '(no permissions)'}")
    return 0


def _users_passwd(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    password = _read_password(f"new password for {args.username}: ")
    asyncio.run(components.api_users.set_password(args.username, password))
    print(f"changed the password of {args.username}")
    return 0


def _users_permissions(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    asyncio.run(components.api_users.set_permissions(args.username, args.permission))
    print(f"{args.username}: {', '.join(args.permission) or '(no permissions)'}")
    return 0


def _users_remove(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    asyncio.run(components.api_users.remove(args.username))
    print(f"removed API user {args.username}")
    return 0


def _queue_id(text: str) -> int:
    queue_id = parse_id(text)
    if queue_id is None:
        raise ValueError(f"a queue id is a positive integer, not {text!r}")
    return queue_id


def _queues_add(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    name = args.name.strip()
    if not name:
        raise ValueError("a queue needs a name")
    asyncio.run(components.queues.put(Queue(_queue_id(args.queue_id), name)))
    print(f"queue {args.queue_id}: {name}")
    return 0


def _queues_list(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    for queue in asyncio.run(components.queues.all()):
        print(f"{queue.queue_id}\t{queue.name}")
    return 0


def _queues_remove(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    if not asyncio.run(components.queues.remove(_queue_id(args.queue_id))):
        raise ValueError(f"no queue {args.queue_id}")
    print(f"removed queue {args.queue_id}")
    return 0


def _wallboard_token(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    token = asyncio.run(WallboardTokens(components.api_users).create(args.name))
    print(token)
    print(
        f"open: http://{settings.host}:{settings.port}/wallboard?token={token}"
        "  (the token is shown only now; `kolejka wallboard revoke "
        f"{args.name}` withdraws it)",
        file=sys.stderr,
    )
    return 0


def _wallboard_list(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    for name in asyncio.run(WallboardTokens(components.api_users).names()):
        print(name)
    return 0


def _wallboard_revoke(args: argparse.Namespace, settings: Settings) -> int:
    components = build(settings)
    asyncio.run(WallboardTokens(components.api_users).revoke(args.name))
    print(f"revoked wallboard token {args.name}")
    return 0
