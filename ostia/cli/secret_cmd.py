"""`ostia secret create|list|delete`: TLS secrets for TERMINATED_HTTPS listeners and TLS pools.

The local certificate manager keeps them (encrypted) in the controller database; `create` prints the ref to
give as default_tls_container_ref, sni_container_refs, client_ca_tls_container_ref, tls_container_ref, etc.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ostia.drivers.cert_manager.local import LocalCertManager

ConfLoader = Callable[[argparse.Namespace], Any]


def add_parser(sub: Any, load_conf: ConfLoader) -> None:
    """Register `ostia secret ...` on the main parser's subparsers."""
    secret = sub.add_parser("secret", help="TLS certificates, keys, CAs and CRLs for listeners and pools")
    actions = secret.add_subparsers(dest="secret_action", required=True)
    create = actions.add_parser("create", help="import a PKCS#12 or PEM file and print its ref")
    create.add_argument("file", help="PKCS#12 (.p12/.pfx) or PEM: certificate [+ chain] [+ key], a CA, or a CRL")
    create.add_argument("--name", help="a label shown by `secret list`")
    create.add_argument("--project", help="owning project (default: [api_settings] noauth_default_project)")
    create.add_argument("--passphrase", help="passphrase of the PKCS#12 archive or the encrypted PEM key")
    listing = actions.add_parser("list", help="refs, owners and kinds")
    listing.add_argument("--project", help="only this project's secrets")
    remove = actions.add_parser("delete", help="forget a secret (listeners still naming it stop resolving)")
    remove.add_argument("ref")
    secret.set_defaults(func=lambda args: run(args, load_conf(args)))


def run(args: argparse.Namespace, conf: Any) -> int:
    from ostia.cli import bootstrap

    db = bootstrap.database(conf)
    bootstrap.require_current_schema(db)
    manager = bootstrap.cert_manager(conf, db)
    try:
        if args.secret_action == "create":
            return _create(args, conf, manager)
        if args.secret_action == "list":
            return _list(args, manager)
        if manager.delete(args.ref):
            return 0
        print(f"ostia secret delete: no secret {args.ref}", file=sys.stderr)
        return 1
    finally:
        manager.close()
        db.engine.dispose()


def _create(args: argparse.Namespace, conf: Any, manager: LocalCertManager) -> int:
    from ostia.drivers.cert_manager import bundle

    try:
        with open(args.file, "rb") as f:
            data = f.read()
        tls = bundle.load(data, args.passphrase.encode() if args.passphrase is not None else None)
    except (OSError, bundle.BundleError) as exc:
        print(f"ostia secret create: {args.file}: {exc}", file=sys.stderr)
        return 1
    project = args.project or conf.api_settings.noauth_default_project or None
    print(manager.store(tls, project, args.name))
    return 0


def _list(args: argparse.Namespace, manager: LocalCertManager) -> int:
    from ostia.drivers.cert_manager import bundle

    rows = [(s.ref, s.project_id or "", s.name or "", bundle.describe(manager.get(s.ref, None)),
             s.created_at.isoformat(timespec="seconds")) for s in manager.list_secrets(args.project)]
    header = ("ref", "project", "name", "kind", "created_at")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0
