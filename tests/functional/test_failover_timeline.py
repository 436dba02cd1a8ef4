"""The failover timeline route (admin only through the policy engine) and `ostia diagnose` /
`ostia failover-timeline` output, on rows written directly."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from ostia.cli import diagnose_cmd
from ostia.db.models import Amphora, AmphoraHealth, Job, LoadBalancer, utcnow
from ostia.health import timeline
from ostia.health.timeline import FailoverStage
from tests.support.controller import Api, running_controller

NIL = "00000000-0000-0000-0000-000000000000"
OSTIA = Path(sys.executable).parent / "ostia"


def test_timeline_route_is_admin_only_and_404_for_unknown(sqlite_url: str,
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    state = str(tmp_path_factory.mktemp("state"))
    with running_controller(sqlite_url, state, api_settings={"auth_strategy": "testing"}) as ctl, \
            TestClient(ctl.app) as client:
        owner, admin = Api(client, "p1"), Api(client, "ops")
        owner.headers["X-Roles"] = "member"
        admin.headers["X-Roles"] = "load-balancer_admin"
        lb = owner.create_lb()
        path = f"/v2/lbaas/loadbalancers/{lb['id']}/failover_timeline"
        assert admin.get(path).json() == {"failover_timeline": []}
        t0 = utcnow()
        with ctl.db.session() as session:  # written out of order: the route sorts by time
            timeline.record(session, FailoverStage.DECIDED, lb["id"], "a1", "failover job j1",
                            at=t0 + dt.timedelta(seconds=1))
            timeline.record(session, FailoverStage.DETECTED, lb["id"], "a1", "no heartbeat", at=t0)
            timeline.record(session, FailoverStage.SKIPPED, "other-lb", "a9", "not this LB's")
        assert admin.get(path).json() == {"failover_timeline": [
            {"stage": "DETECTED", "at": t0.isoformat(), "amphora_id": "a1", "detail": "no heartbeat"},
            {"stage": "DECIDED", "at": (t0 + dt.timedelta(seconds=1)).isoformat(), "amphora_id": "a1",
             "detail": "failover job j1"}]}
        # The owner is refused (amphora ids and internals are operators' business), on /v2.0 too.
        denied = (403, "Policy does not allow this request to be performed.")
        resp = owner.get(path)
        assert (resp.status_code, resp.json()["faultstring"]) == denied
        assert owner.get(path.replace("/v2/", "/v2.0/")).status_code == 403
        resp = admin.get(f"/v2/lbaas/loadbalancers/{NIL}/failover_timeline")
        assert (resp.status_code, resp.json()["faultstring"]) == (404, f"Load Balancer {NIL} not found.")


def test_diagnose_explains_an_lb_in_error(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    state = str(tmp_path_factory.mktemp("state"))
    with running_controller(sqlite_url, state, health_manager={"heartbeat_timeout": 5.0}) as ctl, \
            TestClient(ctl.app) as client:
        api = Api(client)
        lb = api.create_lb(name="sick")
        healthy = api.create_lb(name="well")
        with ctl.db.session() as session:
            (amp,) = session.scalars(select(Amphora).where(Amphora.load_balancer_id == lb["id"]))
            (good,) = session.scalars(select(Amphora).where(Amphora.load_balancer_id == healthy["id"]))
            session.execute(update(LoadBalancer).where(LoadBalancer.id == lb["id"]).values(
                provisioning_status="ERROR", operating_status="OFFLINE"))
            session.execute(update(Amphora).where(Amphora.id == amp.id).values(
                config_hash="a" * 32, cert_expiration=utcnow() - dt.timedelta(days=1)))
            session.execute(update(Amphora).where(Amphora.id == good.id).values(
                config_hash="c" * 32, cert_expiration=utcnow() + dt.timedelta(days=300)))
            session.add(AmphoraHealth(amphora_id=amp.id, last_update=utcnow() - dt.timedelta(seconds=42),
                                      busy=False, seq=7, applied_config_hash="b" * 32))
            session.add(AmphoraHealth(amphora_id=good.id, last_update=utcnow(), busy=False, seq=3,
                                      applied_config_hash="c" * 32))
            session.add(Job(kind="amphora.failover", payload={"amphora_id": amp.id}, state="REVERTED",
                            load_balancer_id=lb["id"], attempts=1, error="RuntimeError: no capacity",
                            finished_at=utcnow()))
            timeline.record(session, FailoverStage.DETECTED, lb["id"], amp.id, "no heartbeat for 6.0 s")
            timeline.record(session, FailoverStage.FAILED, lb["id"], amp.id, "RuntimeError: no capacity",
                            at=utcnow() + dt.timedelta(milliseconds=1))

        text = "\n".join(diagnose_cmd.report_for(ctl.conf, ctl.db, "sick", diagnose_cmd.diagnose) or [])
        assert f"Load balancer {lb['id']} (sick)" in text
        assert "provisioning_status ERROR, operating_status OFFLINE" in text
        assert "Last failed job: amphora.failover" in text and "RuntimeError: no capacity" in text
        assert "(STALE)" in text and f"amp {amp.id} sent no heartbeat for 4" in text
        assert "config: MISMATCH, runs " + "b" * 32 in text
        assert "EXPIRED" in text
        assert "DETECTED" in text and "the last failover step is FAILED: RuntimeError: no capacity" in text
        assert text.index("Findings:") > text.index("Failover timeline")

        well = "\n".join(diagnose_cmd.report_for(ctl.conf, ctl.db, healthy["id"], diagnose_cmd.diagnose) or [])
        assert "(fresh)" in well and "config: in sync" in well and "Failover timeline: no failover recorded" in well
        assert "Last failed job: none" in well
        assert diagnose_cmd.report_for(ctl.conf, ctl.db, NIL, diagnose_cmd.diagnose) is None

        # The real commands, as an operator runs them against the same database.
        db_url = str(ctl.db.engine.url.render_as_string(hide_password=False))
        base = [str(OSTIA), "--state-dir", state, "--set", f"database.connection={db_url}"]
        out = subprocess.run([*base, "diagnose", lb["id"]], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        assert "Last failed job: amphora.failover" in out.stdout and "Findings:" in out.stdout
        out = subprocess.run([*base, "failover-timeline", "sick"], capture_output=True, text=True, timeout=60,
                             check=False)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert [line.split()[2] for line in lines] == ["DETECTED", "FAILED"] and amp.id in lines[0]
        out = subprocess.run([*base, "diagnose", NIL], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 1 and "no load balancer" in out.stderr
