"""`ostia ca status|rotate|advance`: the local CA of the controller ↔ amphora channel and its rotation.

    ostia ca status     generation, rotation phase, grace period end, the controller's client certificate, and
                        how many amphorae hold a server certificate from each CA generation
    ostia ca rotate     new CA; every amphora trusts old + new, gets a server certificate from the new one; the
                        controller's client certificate follows; the old CA stays trusted for
                        [certificates] ca_rotation_grace seconds (`--grace` overrides it)
    ostia ca advance    one pass of what housekeeping does every cert_interval: renew the controller's client
                        certificate when due, resume a rotation some amphora missed, drop the old CA once the
                        grace period is over, rotate server certificates expiring within cert_expiry_buffer
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

ConfLoader = Callable[[argparse.Namespace], Any]


def add_parser(sub: Any, load_conf: ConfLoader) -> None:
    ca = sub.add_parser("ca", help="the local CA of the controller <-> amphora mutual TLS, and its rotation")
    actions = ca.add_subparsers(dest="ca_action", required=True)
    actions.add_parser("status", help="CA generation, rotation phase, amphorae per CA generation")
    rotate = actions.add_parser("rotate", help="replace the CA without interrupting the amphorae")
    rotate.add_argument("--grace", type=float, help="seconds the old CA stays trusted "
                                                    "(default: [certificates] ca_rotation_grace)")
    actions.add_parser("advance", help="one certificate housekeeping pass (expiring server certificates, an "
                                       "unfinished rotation, a grace period that is over)")
    ca.set_defaults(func=lambda args: run(args, load_conf(args)))


def run(args: argparse.Namespace, conf: Any) -> int:
    from ostia.cli import bootstrap
    from ostia.drivers.certificates.base import CertificateError
    from ostia.drivers.registry import build_drivers
    from ostia.housekeeping.ca_rotation import CaRotation
    from ostia.housekeeping.certs import CertRotator

    db = bootstrap.database(conf)
    bootstrap.require_current_schema(db)
    rotator = CertRotator(conf, db, build_drivers(conf, db))
    try:
        if args.ca_action == "status":
            return _status(rotator)
        if rotator.target is None:
            print("ostia ca: [controller_worker] amphora_driver is not `agent`: no agents to rotate",
                  file=sys.stderr)
            return 2
        started = time.monotonic()
        if args.ca_action == "advance":
            rotated = rotator.run_once()
            print(f"{rotated} amphora server certificates rotated in {time.monotonic() - started:.2f}s")
            return _status(rotator)
        grace = args.grace if args.grace is not None else conf.certificates.ca_rotation_grace
        outcome = CaRotation(db, rotator.certs, rotator.target).start(dt.timedelta(seconds=grace))
        took = time.monotonic() - started
    except CertificateError as exc:
        print(f"ostia ca: {exc}", file=sys.stderr)
        return 1
    print(f"{len(outcome.rotated)} amphorae updated in {took:.2f}s, {len(outcome.pending)} pending; "
          f"phase {outcome.phase}")
    for amphora_id in outcome.pending:
        print(f"  pending: {amphora_id} (unreachable or busy; `ostia ca advance` or housekeeping retries it)")
    _status(rotator)
    return 0 if not outcome.pending else 1


def _status(rotator: Any) -> int:
    from cryptography import x509

    from ostia.db.models import Amphora
    from ostia.housekeeping.certs import live_amphorae

    certs = rotator.certs
    state = certs.rotation_state()
    print(f"CA generation {state['generation']}, rotation phase {state['phase']}"
          + (f", old CA trusted until {state['grace_until']}" if state["phase"] == "grace" else ""))
    cert_path, _ = certs.client_cert_files()
    client = x509.load_pem_x509_certificate(cert_path.read_bytes())
    print(f"controller client certificate: issued by {client.issuer.rfc4514_string()}, "
          f"expires {client.not_valid_after_utc.isoformat(timespec='seconds')}")
    with rotator.db.session() as session:
        rows = session.execute(select(Amphora.ca_generation, func.count()).where(*live_amphorae())
                               .group_by(Amphora.ca_generation)).all()
    for generation, count in sorted(rows, key=lambda r: -1 if r[0] is None else r[0]):
        print(f"  amphorae on CA generation {generation if generation is not None else 'unknown'}: {count}")
    return 0
