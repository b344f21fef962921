"""CLI: ``cds-service dev-client init`` and ``cds-service token`` (a JWT for curl)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cds_service.auth import devclient
from cds_service.config import Settings
from cds_service.hooks.registry import SERVICES


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = sub.add_parser("dev-client",
                         help="make a local development CDS Client (key and trust file)")
    actions = dev.add_subparsers(dest="action", required=True)
    init = actions.add_parser(
        "init", help="create its key and a trust file for CDS_TRUSTED_CLIENTS (idempotent)")
    init.add_argument("--dir", type=Path, default=devclient.DEFAULT_DIR,
                      help=f"where the key and trust file live (default: {devclient.DEFAULT_DIR})")
    init.add_argument("--fhir-server", action="append", dest="fhir_servers", metavar="URL",
                      help="a FHIR server base URL the service may query for this client "
                           "(repeatable; default: keep the trust file's list)")
    init.set_defaults(func=_init)

    token = sub.add_parser("token", help="print a JWT of the development client (for curl)")
    token.add_argument("--service", metavar="ID",
                       help="aud = that service's URL (default: the discovery URL, "
                            "{CDS_PUBLIC_BASE_URL}/cds-services)")
    token.add_argument("--feedback", action="store_true",
                       help="aud = the service's feedback URL (needs --service)")
    token.add_argument("--audience", metavar="URL",
                       help="aud as given, instead of the above (default: built from --service)")
    token.add_argument("--lifetime", type=int, default=300,
                       help="seconds, at most CDS_JWT_MAX_LIFETIME_SECONDS (default: 300)")
    token.add_argument("--dir", type=Path, default=devclient.DEFAULT_DIR,
                       help=f"the development client (default: {devclient.DEFAULT_DIR})")
    token.set_defaults(func=_token)


def _init(args: argparse.Namespace) -> int:
    client, changes = devclient.init(args.dir, args.fhir_servers)
    for line in changes or [f"{client.trust_path}: up to date (kid {client.kid})"]:
        sys.stderr.write(line + "\n")
    sys.stderr.write(f"serve with CDS_TRUSTED_CLIENTS={client.trust_path}\n")
    if any(url.startswith("http://") for url in args.fhir_servers or ()):
        sys.stderr.write("note: an http:// FHIR server is accepted only with "
                         "CDS_ENVIRONMENT=development; production refuses to start with it\n")
    return 0


def _token(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.audience:
        audience = args.audience
    elif args.service:
        if args.service not in SERVICES:
            sys.stderr.write(f"no CDS Service {args.service!r}; "
                             f"known: {', '.join(sorted(SERVICES))}\n")
            return 2
        suffix = "/feedback" if args.feedback else ""
        audience = settings.service_url(f"cds-services/{args.service}{suffix}")
    elif args.feedback:
        sys.stderr.write("--feedback needs --service\n")
        return 2
    else:
        audience = settings.service_url("cds-services")
    if not 0 < args.lifetime <= settings.jwt_max_lifetime_seconds:
        sys.stderr.write(f"--lifetime must be 1..{settings.jwt_max_lifetime_seconds} seconds "
                         "(CDS_JWT_MAX_LIFETIME_SECONDS)\n")
        return 2
    client = devclient.load(args.dir)
    sys.stdout.write(client.token(audience, lifetime=args.lifetime) + "\n")
    return 0
