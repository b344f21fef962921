"""The ``cds-service`` command. Each area adds its own sub-commands through ``register``."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Protocol

import orjson

from cds_service.config import Settings
from cds_service.errors import ConfigurationError, ServiceError
from cds_service.server.address import DEFAULT_HOST, DEFAULT_PORT

# What `cds-service --help` says (the docstring above is for developers).
_DESCRIPTION = ("Payer CDS Hooks 2.0 / Da Vinci CRD service: serve it, try a hook request, check "
                "policy files, make development tokens, and manage the records database. Settings "
                "come from CDS_* environment variables (docs/reference/settings.md).")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigurationError as exc:
        # One problem fits on one line; several get a line each.
        text = f"{exc.source}: {exc.problems[0]}" if len(exc.problems) == 1 else str(exc)
        print(f"configuration error in {text}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds-service", description=_DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve", help="run the service (CDS Hooks endpoints, policy pages, health, metrics); "
                      "HTTPS with CDS_TLS_CERT_FILE and CDS_TLS_KEY_FILE")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help="address to listen on (default: 127.0.0.1, this machine only; "
                            "0.0.0.0: every interface, which outside development needs TLS "
                            "or CDS_BEHIND_TLS_PROXY=true)")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT,
                       help=f"TCP port (default: {DEFAULT_PORT})")
    serve.add_argument("--workers", type=_positive, default=1,
                       help="worker processes (default: 1)")
    serve.set_defaults(func=_serve)

    evaluate = sub.add_parser("evaluate", help="print the answer a hook call would get")
    evaluate.add_argument("request", type=Path, help="hook request JSON file")
    evaluate.add_argument("--service", metavar="ID",
                          help="service id (default: the service of the request's hook)")
    evaluate.set_defaults(func=_evaluate)

    policy = sub.add_parser("policy", help="policy files: check them").add_subparsers(dest="action",
                                                                          required=True)
    check = policy.add_parser("check", help="validate policy files (and the payer file)")
    check.add_argument("path", nargs="?", type=Path,
                       help="directory or file to check with the bundled policies "
                            "(default: CDS_POLICY_DIR)")
    check.set_defaults(func=_policy_check)

    for module in _command_modules():
        module.register(sub)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """Each command's ``--help`` opens with what it does: its one-line help from the list of
    commands, unless it has a description of its own."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, child in action.choices.items():
            if child.description is None and helps.get(name):
                text = str(helps[name])
                child.description = text[0].upper() + text[1:] + "."
            _describe(child)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1: {value!r}")
    return int(value)


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 1 to 65535: {value!r}")
    return int(value)


class _CommandModule(Protocol):
    def register(self, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def _command_modules() -> list[_CommandModule]:
    from cds_service.auth import commands as auth_commands
    from cds_service.store import commands as store_commands

    return [auth_commands, store_commands]


def _serve(args: argparse.Namespace) -> int:
    metrics_dir = None
    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Workers are separate processes: metrics are aggregated through files (prometheus_client
        # multiprocess mode); the variable must be set before any worker imports the client.
        metrics_dir = tempfile.mkdtemp(prefix="cds-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        return _run_server(args)
    finally:
        if metrics_dir is not None:  # ours, and every worker has stopped
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_server(args: argparse.Namespace) -> int:
    from cds_service import logs, tls
    from cds_service.api.cors import allowed_origins
    from cds_service.auth.verify import check_trust
    from cds_service.knowledge import check_payer_identity, load_knowledge
    from cds_service.server.address import check_listen
    from cds_service.server.protocol import uvicorn_options
    from cds_service.server.supervisor import serve

    settings = Settings()
    logs.configure(settings.log_level, settings.log_json, settings.log_library_debug)
    tls.check(settings, args.host)  # refuses plain HTTP where it must
    if settings.tls:
        logging.getLogger("uvicorn.error").addFilter(tls.HTTPSBanner())
    # Fail fast, before forking workers: the files, and CDS_ACCEPT_ANY_PAYER outside development.
    check_payer_identity(settings, load_knowledge(settings.policy_dir, settings.payer_file))
    check_trust(settings)  # trust file and auth switch, also before forking
    allowed_origins(settings)
    if settings.record_decisions:
        from cds_service.store.db import prepare

        prepare(settings.database_url)  # schema check (SQLite: migrate) once, not per worker
    check_listen(args.host, args.port)  # last: what is refused above names its setting first
    signal.signal(signal.SIGTERM, _stopped)
    return serve(host=args.host, port=args.port, workers=args.workers, log_config=None,
                 proxy_headers=True, server_header=False, timeout_graceful_shutdown=20,
                 **uvicorn_options(settings))


def _stopped(signum: int, frame: FrameType | None) -> None:
    # Uvicorn, having shut down gracefully on SIGTERM, raises the signal again with the handler
    # it found installed; with the default one a single-worker service would end "killed by
    # SIGTERM" (status 143), while several workers end with 0. A requested stop is a success.
    raise SystemExit(0)


def _evaluate(args: argparse.Namespace) -> int:
    from cds_service.api.hooks import parse_request
    from cds_service.evaluate import Evaluator
    from cds_service.hooks.registry import SERVICES
    from cds_service.knowledge import load_knowledge

    settings = Settings()
    knowledge = load_knowledge(settings.policy_dir, settings.payer_file)
    evaluator = Evaluator(knowledge, public_base_url=settings.public_base_url)
    try:
        body = orjson.loads(args.request.read_bytes())
        if not isinstance(body, dict):
            raise ServiceError("request must be a JSON object")
        request = parse_request(body)
        service = SERVICES.get(args.service) if args.service else next(
            (s for s in SERVICES.values() if s.hook == request.hook), None)
        if service is None:
            print(f"no service for hook {request.hook!r}", file=sys.stderr)
            return 2
        evaluation = asyncio.run(evaluator.evaluate(request, service, fetcher=None))
    except (OSError, orjson.JSONDecodeError) as exc:
        print(f"cannot read {args.request}: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        sys.stdout.buffer.write(orjson.dumps(exc.outcome(), option=orjson.OPT_INDENT_2) + b"\n")
        return 1
    sys.stdout.buffer.write(orjson.dumps(evaluation.response.to_json_dict(),
                                         option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def _policy_check(args: argparse.Namespace) -> int:
    from cds_service.knowledge import load_knowledge
    from cds_service.policy.loader import load_policy_file, policy_files

    settings = Settings()
    path: Path | None = args.path or settings.policy_dir
    if path is not None and path.is_file():
        load_policy_file(path)  # a single file: schema and quotes
        policy_dir = None
        print(f"{path}: ok")
    else:
        policy_dir = path
        # Every file on its own first, so an author sees all that is wrong in one run.
        broken = 0
        for file in policy_files(path) if path is not None else []:
            try:
                load_policy_file(file)
            except ConfigurationError as exc:
                broken += 1
                print(f"configuration error in {exc}", file=sys.stderr)
        if broken:
            print(f"{broken} policy file(s) refused", file=sys.stderr)
            return 2
    knowledge = load_knowledge(policy_dir, settings.payer_file)
    for lp in knowledge.policies.all():
        since = f", in force from {lp.policy.effective}" if lp.policy.effective else ""
        print(f"{lp.path}: ok ({lp.policy.id} version {lp.policy.version}{since}, "
              f"{len(lp.policy.codes)} codes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
