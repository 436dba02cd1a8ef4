"""`ostia diagnose <lb>` and `ostia failover-timeline <lb>`: an operator's view, read from the database.

`diagnose` explains why a load balancer is not ACTIVE/ONLINE: its statuses, the last failed job, jobs still in
flight, each amphora's last heartbeat against heartbeat_timeout, configuration drift (the haproxy.cfg hash the
amphora reports vs the one pushed to it), server certificate expiry, children that are not ONLINE and the tail of
the failover timeline. It only reads, so it is safe on a production database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ostia.db.engine import Database
from ostia.db.models import Amphora, AmphoraHealth, Job, LoadBalancer, utcnow
from ostia.domain.enums import AmphoraStatus, JobState, OperatingStatus, ProvisioningStatus
from ostia.health import timeline

ConfLoader = Callable[[argparse.Namespace], Any]
TIMELINE_TAIL = 10
CERT_WARN_DAYS = 14
SERVER_CERT = "tls/server.pem"  # the local compute driver's name for an agent's certificate


def add_parser(sub: Any, load_conf: ConfLoader) -> None:
    """Register `ostia diagnose` and `ostia failover-timeline` on the main parser's subparsers."""
    diag = sub.add_parser("diagnose", help="explain why a load balancer is not ACTIVE/ONLINE")
    diag.add_argument("load_balancer", help="load balancer id or name")
    diag.set_defaults(func=lambda args: run(args, load_conf(args), diagnose))
    tl = sub.add_parser("failover-timeline", help="the failover steps of a load balancer, oldest first")
    tl.add_argument("load_balancer", help="load balancer id or name")
    tl.set_defaults(func=lambda args: run(args, load_conf(args), failover_timeline))


def run(args: argparse.Namespace, conf: Any, report: Callable[[Any, Session, LoadBalancer], list[str]]) -> int:
    from ostia.cli import bootstrap

    db = bootstrap.database(conf)
    try:
        bootstrap.require_current_schema(db)
        lines = report_for(conf, db, args.load_balancer, report)
    finally:
        db.engine.dispose()
    if lines is None:
        print(f"ostia {args.command}: no load balancer {args.load_balancer!r}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def report_for(conf: Any, db: Database, ref: str, report: Callable[[Any, Session, LoadBalancer], list[str]],
               ) -> list[str] | None:
    """The report's lines for the LB with that id (or unique name); None when there is none."""
    with db.session() as session:
        lbs = list(session.scalars(select(LoadBalancer).where(
            or_(LoadBalancer.id == ref, LoadBalancer.name == ref),
            LoadBalancer.provisioning_status != ProvisioningStatus.DELETED)))
        exact = [lb for lb in lbs if lb.id == ref] or lbs
        if len(exact) != 1:
            return None
        return report(conf, session, exact[0])


def failover_timeline(conf: Any, session: Session, lb: LoadBalancer) -> list[str]:
    events = timeline.events(session, lb.id)
    if not events:
        return [f"load balancer {lb.id}: no failover recorded"]
    return [_event_line(e) for e in events]


def _event_line(event: Any) -> str:
    amp = f" amp={event.amphora_id}" if event.amphora_id else ""
    return f"{event.at.isoformat(sep=' ', timespec='milliseconds')}  {event.stage:<19}{amp}  {event.detail}"


def _ago(seconds: float) -> str:
    return f"{seconds:.1f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def diagnose(conf: Any, session: Session, lb: LoadBalancer) -> list[str]:
    now = utcnow()
    hm = conf.health_manager
    findings: list[str] = []
    out = [f"Load balancer {lb.id} ({lb.name or 'no name'}), project {lb.project_id}",
           f"  provisioning_status {lb.provisioning_status}, operating_status {lb.operating_status}, "
           f"admin_state_up {lb.admin_state_up}, topology {lb.topology or '-'}, VIP {lb.vip_address or '-'}"]
    if lb.provisioning_status == ProvisioningStatus.ERROR:
        findings.append("provisioning_status is ERROR: its last operation failed and was reverted (last failed "
                        "job below); `openstack loadbalancer failover` rebuilds its amphorae")
    elif lb.provisioning_status != ProvisioningStatus.ACTIVE:
        findings.append(f"provisioning_status is {lb.provisioning_status}: an operation is in flight (jobs below)")
    if not lb.admin_state_up:
        findings.append("admin_state_up is false: the load balancer is OFFLINE on purpose")

    out += _jobs(session, lb, findings)
    out += _amphorae(conf, session, lb, now, findings)
    out += _children(lb, findings)
    if lb.operating_status != OperatingStatus.ONLINE:
        findings.append(f"operating_status is {lb.operating_status}: the health manager sets it from heartbeats "
                        f"(listeners, pools and members as the amphorae report them)")

    events = timeline.events(session, lb.id, limit=TIMELINE_TAIL)
    out.append(f"Failover timeline (last {TIMELINE_TAIL}):" if events else "Failover timeline: no failover recorded")
    out += [f"  {_event_line(e)}" for e in events]
    if events and events[-1].stage in (timeline.FailoverStage.FAILED, timeline.FailoverStage.SKIPPED):
        findings.append(f"the last failover step is {events[-1].stage}: {events[-1].detail}")

    out.append("Findings:" if findings else
               f"Findings: none; heartbeats fresh (timeout {hm.heartbeat_timeout:g} s), configuration in sync")
    out += [f"  - {f}" for f in findings]
    return out


def _jobs(session: Session, lb: LoadBalancer, findings: list[str]) -> list[str]:
    out = []
    failed = session.scalars(select(Job).where(Job.load_balancer_id == lb.id, Job.state == JobState.REVERTED)
                             .order_by(Job.finished_at.desc(), Job.created_at.desc()).limit(1)).first()
    if failed is not None:
        when = failed.finished_at.isoformat(sep=" ", timespec="seconds") if failed.finished_at else "?"
        out.append(f"Last failed job: {failed.kind} {failed.id} at {when}, {failed.attempts} attempt(s): "
                   f"{failed.error or 'no error recorded'}")
        if lb.provisioning_status == ProvisioningStatus.ERROR:
            findings.append(f"the last failed job ({failed.kind}) says: {failed.error or 'no error recorded'}")
    else:
        out.append("Last failed job: none")
    for job in session.scalars(select(Job).where(Job.load_balancer_id == lb.id,
                                                 Job.state.in_((JobState.PENDING, JobState.RUNNING)))
                               .order_by(Job.created_at)):
        out.append(f"Job in flight: {job.kind} {job.id} {job.state} (owner {job.owner or '-'}, "
                   f"attempt {job.attempts})")
    return out


def _amphorae(conf: Any, session: Session, lb: LoadBalancer, now: dt.datetime, findings: list[str]) -> list[str]:
    timeout = conf.health_manager.heartbeat_timeout
    rows = session.execute(
        select(Amphora, AmphoraHealth).outerjoin(AmphoraHealth, AmphoraHealth.amphora_id == Amphora.id)
        .where(Amphora.load_balancer_id == lb.id, Amphora.status != AmphoraStatus.DELETED)
        .order_by(Amphora.role, Amphora.created_at)).tuples().all()
    out = [f"Amphorae ({len(rows)}; heartbeat_timeout {timeout:g} s):"]
    if not rows:
        findings.append("the load balancer has no amphora")
    for amp, health in rows:
        label = f"amp {amp.id}"
        out.append(f"  {amp.id} {amp.role or '-'} {amp.status} mgmt {amp.lb_network_ip or '-'}")
        if amp.status in (AmphoraStatus.ERROR, AmphoraStatus.FAILOVER_STOPPED):
            why = ("the circuit breaker stopped its automatic failover (too many amphorae stale at once)"
                   if amp.status == AmphoraStatus.FAILOVER_STOPPED else "a flow gave up on it")
            findings.append(f"{label} is {amp.status}: {why}")
        if health is None:
            out.append("    heartbeat: none received yet")
            if amp.status == AmphoraStatus.ALLOCATED:
                findings.append(f"{label} never sent a heartbeat the health manager accepted (agent down, wrong "
                                f"heartbeat_key, or no health manager at {conf.health_manager.bind_ip}:"
                                f"{conf.health_manager.bind_port})")
        else:
            age = (now - health.last_update).total_seconds()
            state = "STALE" if age > timeout else "fresh"
            busy = ", busy (a failover holds it)" if health.busy else ""
            out.append(f"    heartbeat: last {_ago(age)} ({state}){busy}, seq {health.seq}")
            if age > timeout:
                findings.append(f"{label} sent no heartbeat for {age:.1f} s (> heartbeat_timeout {timeout:g} s)")
            pushed, applied = amp.config_hash, health.applied_config_hash
            if pushed and applied != pushed:
                out.append(f"    config: MISMATCH, runs {applied or 'nothing'}, pushed {pushed}")
                findings.append(f"{label} runs another haproxy.cfg than the one pushed (the health manager pushes "
                                "it again after two heartbeat intervals)")
            else:
                out.append(f"    config: {'in sync ' + pushed if pushed else 'no HAProxy configuration pushed'}")
        out.append(f"    certificate: {_cert_line(conf, amp, now, findings)}")
    return out


def _cert_expiry(conf: Any, amp: Amphora) -> tuple[dt.datetime | None, str]:
    if amp.cert_expiration is not None:
        return amp.cert_expiration, "database"
    directory = conf.local_compute.amphora_dir or str(Path(conf.state_dir).absolute() / "amphorae")
    path = Path(directory) / (amp.compute_id or amp.id) / SERVER_CERT
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None, str(path)
    return cert.not_valid_after_utc.replace(tzinfo=None), str(path)


def _cert_line(conf: Any, amp: Amphora, now: dt.datetime, findings: list[str]) -> str:
    expiry, source = _cert_expiry(conf, amp)
    if expiry is None:
        return f"unknown (no cert_expiration, no readable {source})"
    left = expiry - now
    text = f"expires {expiry.isoformat(sep=' ', timespec='seconds')} ({source})"
    if left.total_seconds() <= 0:
        findings.append(f"amp {amp.id} server certificate EXPIRED at {expiry}: the controller cannot reach its "
                        "agent over mTLS")
        return text + " EXPIRED"
    if left < dt.timedelta(days=CERT_WARN_DAYS):
        findings.append(f"amp {amp.id} server certificate expires in {left.days} days")
        return text + f", in {left.days} days"
    return text


def _children(lb: LoadBalancer, findings: list[str]) -> list[str]:
    out = []
    quiet = (OperatingStatus.ONLINE, OperatingStatus.NO_MONITOR)
    for listener in lb.listeners:
        if listener.operating_status not in quiet or listener.provisioning_status != ProvisioningStatus.ACTIVE:
            out.append(f"  listener {listener.id} {listener.protocol}:{listener.protocol_port} "
                       f"{listener.provisioning_status}/{listener.operating_status}")
    for pool in lb.pools:
        if pool.operating_status not in quiet or pool.provisioning_status != ProvisioningStatus.ACTIVE:
            out.append(f"  pool {pool.id} {pool.provisioning_status}/{pool.operating_status}")
        for member in pool.members:
            if member.operating_status not in quiet or member.provisioning_status != ProvisioningStatus.ACTIVE:
                out.append(f"  member {member.id} {member.address}:{member.protocol_port} "
                           f"{member.provisioning_status}/{member.operating_status}")
    if out:
        findings.append(f"{len(out)} listener(s)/pool(s)/member(s) are not ACTIVE/ONLINE (listed above)")
        return ["Children not ACTIVE/ONLINE:", *out]
    return []
