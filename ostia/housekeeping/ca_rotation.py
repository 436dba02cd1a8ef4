"""Rotating the local CA without failing the fleet over: old and new CA are trusted side by side for a while.

    start      `begin_rotation`: a new CA (generation G+1) exists; agents and controller trust G and G+1;
               new server certificates come from G+1, the controller's client certificate is still G's.
    distribute every amphora gets the bundle {G, G+1} first, then a server certificate from G+1
               (`amphora.ca_generation` = G+1 records it; an amphora that did not answer is retried).
    promote    once none is left on G: G+1 becomes the CA, the controller re-issues its client certificate from
               it (every controller process notices the change and reloads its TLS context), and the grace
               period (`[certificates] ca_rotation_grace`) starts: G is still accepted everywhere.
    finish     after the grace period: every agent gets the bundle {G+1}, then the controller drops G too.

`ostia ca rotate` runs start → distribute → promote; housekeeping (`CertRotator.run_once`) calls `advance`,
which resumes an unfinished distribution and finishes a rotation whose grace period is over. Every step is
recorded (rotation.json in the CA directory, `ca_generation` in the database) before the next one starts, so
whichever process looks next continues a rotation interrupted by a crash.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from ostia.db.engine import Database
from ostia.db.models import Amphora
from ostia.drivers.amphora.client import AgentError
from ostia.drivers.certificates.base import CertificateError
from ostia.drivers.certificates.local_ca import LocalCertificateDriver
from ostia.housekeeping.certs import CertificateTarget, live_amphorae, rotate_claimed

LOG = logging.getLogger("ostia.housekeeping.ca_rotation")


@dataclass
class Outcome:
    rotated: list[str] = field(default_factory=list)  # amphorae moved to the new CA (or told to drop the old)
    pending: list[str] = field(default_factory=list)  # not reachable or claimed elsewhere: done on a later pass
    phase: str = "none"


class CaRotation:
    def __init__(self, db: Database, certs: LocalCertificateDriver, target: CertificateTarget) -> None:
        self.db = db
        self.certs = certs
        self.target = target

    def start(self, grace: dt.timedelta) -> Outcome:
        """`ostia ca rotate`: begin, move every reachable amphora, promote when none is left behind."""
        self.certs.begin_rotation(grace)
        LOG.info("CA rotation started: generation %d", self.certs.server_generation)
        return self._distribute_and_promote()

    def advance(self) -> int:
        """Housekeeping's step: resume a distribution, or finish a rotation past its grace period; returns how
        many server certificates it rotated."""
        phase = self.certs.rotation_state()["phase"]
        if phase == "distributing":
            return len(self._distribute_and_promote().rotated)
        if phase == "grace" and self.certs.grace_over():
            self.finish()
        return 0

    def _distribute_and_promote(self) -> Outcome:
        outcome = self.distribute()
        if not outcome.pending and self._step(self.certs.promote, "distributing"):
            LOG.info("CA rotation: every amphora on generation %d; grace period until %s",
                     self.certs.rotation_state()["generation"], self.certs.rotation_state()["grace_until"])
        outcome.phase = self.certs.rotation_state()["phase"]
        return outcome

    def _on_old_generation(self, generation: int) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(Amphora.id).where(
                *live_amphorae(), or_(Amphora.ca_generation.is_(None), Amphora.ca_generation != generation))))

    def _step(self, step: Callable[[], object], phase: str) -> bool:
        """Take a rotation step that needs `phase`; False when another process (a second housekeeper, or
        `ostia ca rotate` beside housekeeping) took it while this one was distributing."""
        try:
            step()
        except CertificateError:
            if self.certs.rotation_state()["phase"] == phase:
                raise
            return False
        return True

    def distribute(self) -> Outcome:
        """Trust both CAs on every amphora, then give it a server certificate from the new one."""
        generation, outcome = self.certs.server_generation, Outcome()
        # Amphorae built during a pass got a certificate from the new CA already but are not recorded: a few
        # passes pick them up (bounded: builds are rare next to a pass).
        for _ in range(3):
            todo = [a for a in self._on_old_generation(generation) if a not in outcome.pending]
            if not todo:
                break
            for amphora_id in todo:
                if rotate_claimed(self.db, self.certs, self.target, amphora_id):
                    outcome.rotated.append(amphora_id)
                else:
                    outcome.pending.append(amphora_id)
        outcome.pending += [a for a in self._on_old_generation(generation) if a not in outcome.pending]
        return outcome

    def finish(self) -> Outcome:
        """Tell every agent to accept the new CA alone, then stop trusting the old one here."""
        bundle, outcome = self.certs.trusted_after_finish(), Outcome()
        with self.db.session() as session:
            amphora_ids = list(session.scalars(select(Amphora.id).where(*live_amphorae())))
        for amphora_id in amphora_ids:
            try:
                self.target.put_ca_bundle(amphora_id, bundle)
                outcome.rotated.append(amphora_id)
            except AgentError as exc:
                LOG.warning("amp=%s still trusts the old CA: %s", amphora_id, exc)
                outcome.pending.append(amphora_id)
        if not outcome.pending and self._step(self.certs.finish_rotation, "grace"):
            LOG.info("CA rotation finished: the old CA is no longer trusted")
        outcome.phase = self.certs.rotation_state()["phase"]
        return outcome
