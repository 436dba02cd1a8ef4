"""Certificate rotation, run by housekeeping every `[house_keeping] cert_interval` seconds.

One pass (`CertRotator.run_once`):
1. renews the controller's own client certificate when a third of its life is left;
2. drives a CA rotation on (ostia/housekeeping/ca_rotation.py): resumes distributing a new CA that
   `ostia ca rotate` could not finish, and drops the old CA once its grace period is over;
3. re-issues the server certificate of every amphora that expires within `cert_expiry_buffer` (or whose
   expiry the database does not know yet) and PUTs it to its agent (`/1.0/ca_bundle`, then `/1.0/certificate`):
   the agent swaps its TLS server context for new handshakes only, HAProxy is not touched, so traffic never
   notices.

Two housekeepers never rotate the same amphora: each claims the row first with a compare-and-set on
`cert_busy` (Octavia's column) stamped with a token of its own (`cert_claim`), and releases it when done, whatever
happened, unless another one has taken a stale claim over meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import or_, select, update

from ostia.db.engine import Database
from ostia.db.models import Amphora, new_id, utcnow
from ostia.domain.enums import AmphoraStatus
from ostia.drivers.amphora.client import AgentError
from ostia.drivers.certificates.base import CertificateError
from ostia.drivers.certificates.local_ca import LocalCertificateDriver
from ostia.drivers.registry import Drivers, certificate_driver

LOG = logging.getLogger("ostia.housekeeping.certs")
# Amphorae whose agent is meant to answer (Octavia skips DELETED and PENDING_DELETE; one still booting gets its
# certificate from the build and is left alone too).
SERVING = (AmphoraStatus.READY, AmphoraStatus.ALLOCATED)
STALE_CLAIM = dt.timedelta(minutes=10)


class CertificateTarget(Protocol):
    """What rotation needs of the amphora driver (the agent driver has it; noop amphorae have no agent)."""

    def put_server_certificate(self, amphora_id: str, pem: bytes) -> None: ...

    def put_ca_bundle(self, amphora_id: str, pem: bytes) -> None: ...


def agent_target(drivers: Drivers) -> CertificateTarget | None:
    amphora: Any = drivers.amphora
    return amphora if hasattr(amphora, "put_server_certificate") and hasattr(amphora, "put_ca_bundle") else None


def live_amphorae() -> Any:
    """Rows whose agent can be reached: not being deleted, with a management address."""
    return (Amphora.status.in_(list(SERVING)), Amphora.lb_network_ip.is_not(None))


def claimable() -> Any:
    """Not busy, or busy for so long that its housekeeper must have died mid-rotation (a rotation takes
    seconds; a claim stamps updated_at), so one crash never blocks an amphora, or a CA rotation, for good."""
    stale = utcnow() - STALE_CLAIM
    return or_(Amphora.cert_busy.is_(False), Amphora.updated_at.is_(None), Amphora.updated_at < stale)


@contextmanager
def claimed(db: Database, amphora_id: str) -> Iterator[bool]:
    """Claim the amphora's certificate (cert_busy false → true); yields whether this caller got it."""
    token = new_id()
    with db.session() as session:
        got = session.execute(update(Amphora).where(Amphora.id == amphora_id, claimable())
                              .values(cert_busy=True, cert_claim=token, updated_at=utcnow())
                              ).rowcount == 1  # type: ignore[attr-defined]
    try:
        yield got
    finally:
        if got:
            # Release only our own claim: past STALE_CLAIM another housekeeper may have taken it over. A token,
            # not updated_at, tells: worker tasks, the API and the spare pool write updated_at too.
            with db.session() as session:
                session.execute(update(Amphora).where(Amphora.id == amphora_id, Amphora.cert_claim == token)
                                .values(cert_busy=False, cert_claim=None))


def push_server_certificate(db: Database, certs: LocalCertificateDriver, target: CertificateTarget,
                            amphora_id: str) -> None:
    """Issue a new server certificate (from the CA that signs server certificates now) and install it on the
    agent, then record its expiry and CA generation. The CA bundle goes first, always: an amphora recorded on
    a generation must trust what the controller trusts (mid-rotation: old and new), or the controller's next
    client certificate would be refused there."""
    generation = certs.server_generation
    issued = certs.issue_server_cert(amphora_id)
    target.put_ca_bundle(amphora_id, certs.ca_bundle())
    target.put_server_certificate(amphora_id, issued.cert_pem + issued.key_pem)
    expires = issued.expires_at.astimezone(dt.UTC).replace(tzinfo=None)  # the DB keeps naive UTC
    with db.session() as session:
        session.execute(update(Amphora).where(Amphora.id == amphora_id)
                        .values(cert_expiration=expires, ca_generation=generation))
    LOG.info("amp=%s server certificate rotated (CA generation %d, expires %s)", amphora_id, generation, expires)


def rotate_claimed(db: Database, certs: LocalCertificateDriver, target: CertificateTarget, amphora_id: str) -> bool:
    """Claim the amphora, then `push_server_certificate`; False when another housekeeper holds it or its agent
    did not answer (a later pass tries again)."""
    with claimed(db, amphora_id) as mine:
        if not mine:
            return False
        try:
            push_server_certificate(db, certs, target, amphora_id)
            return True
        except AgentError as exc:
            LOG.warning("amp=%s server certificate not rotated (CA generation %d): %s", amphora_id,
                        certs.server_generation, exc)
            return False


class CertRotator:
    def __init__(self, conf: Any, db: Database, drivers: Drivers) -> None:
        self.db = db
        self.certs: LocalCertificateDriver = certificate_driver(conf)
        self.target = agent_target(drivers)
        self.buffer = dt.timedelta(seconds=conf.house_keeping.cert_expiry_buffer)

    def run_once(self) -> int:
        """One rotation pass; returns how many amphora server certificates were rotated."""
        if self.target is None:
            return 0
        from ostia.housekeeping.ca_rotation import CaRotation

        try:
            self.certs.client_cert_files()  # re-issues the controller's certificate when it is due
            rotated = CaRotation(self.db, self.certs, self.target).advance()
        except CertificateError:
            LOG.exception("certificate rotation: the CA is not usable")
            return 0
        return rotated + self.rotate_expiring()

    def expiring(self) -> list[str]:
        horizon = utcnow() + self.buffer
        with self.db.session() as session:
            return list(session.scalars(
                select(Amphora.id).where(*live_amphorae(), claimable(),
                                         or_(Amphora.cert_expiration.is_(None), Amphora.cert_expiration < horizon))
                .order_by(Amphora.cert_expiration)))

    def rotate_expiring(self) -> int:
        assert self.target is not None
        return sum(rotate_claimed(self.db, self.certs, self.target, amphora_id) for amphora_id in self.expiring())
