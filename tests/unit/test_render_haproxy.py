"""haproxy.cfg rendering: one golden file per feature group (tests/golden/<scenario>.cfg), plus the rules that
golden files only show by example (quoting, limits, skipped objects).

OSTIA_UPDATE_GOLDEN=1 rewrites the golden files from the current renderer; review the diff before committing.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from ostia.agent.haproxy import parse_frontends
from ostia.domain.spec import ListenerSpec, ListenerTlsSpec, LoadBalancerSpec, PoolSpec, RenderSettings
from ostia.render.backend import expand_codes
from ostia.render.haproxy import global_maxconn, render_crt_list, render_haproxy
from ostia.render.quoting import Unsafe, quote
from tests.support.haproxy_scenarios import SCENARIOS

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden(name: str) -> None:
    text = render_haproxy(SCENARIOS[name]())
    path = GOLDEN / f"{name}.cfg"
    if os.environ.get("OSTIA_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with OSTIA_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_every_golden_file_has_a_scenario() -> None:
    assert {p.stem for p in GOLDEN.glob("*.cfg")} == set(SCENARIOS)


def test_quote_makes_one_literal_word() -> None:
    assert quote("/api") == "/api"
    assert quote("a b") == "'a b'"
    assert quote("it's") == "'it'\\''s'"
    assert quote("$HOME#x") == "'$HOME#x'"
    assert quote("") == "''"
    for bad in ("a\nb", "a\rb", "a\x00b", "a\x7fb"):
        with pytest.raises(Unsafe):
            quote(bad)


def test_expand_codes() -> None:
    assert expand_codes("200-204, 302") == "200|201|202|203|204|302"
    assert expand_codes("200") == "200"
    assert expand_codes(None) == "200"
    assert expand_codes("x|y") == "200"


def test_hostile_values_stay_inside_their_words() -> None:
    text = render_haproxy(SCENARIOS["hostile_values"]())
    lines = text.splitlines()
    # Only our own bind line, no injected `bind`/`global` lines; the unsafe policies and member are left out.
    assert [ln for ln in lines if ln.strip().startswith("bind")] == ["    bind 203.0.113.10:80"]
    assert sum(1 for ln in lines if ln.startswith("global")) == 1
    assert "rule-3" not in text and "rule-4" not in text and "policy-4" not in text
    assert "example.com 1.2.3.4" not in text and "member 3" not in text
    assert "    acl rule-1 path -m str -- '/a b#c'\\''d\"$HOME%[src]'" in lines
    assert "    acl rule-2 'req.hdr(X-A)' -m sub -- -i" in lines
    assert "location 'https://example.com/%%[src]'\\''#$HOME' if rule-1 rule-2" in text
    assert "option httpchk GET '/h c'\\''k' HTTP/1.1" in text
    assert "acl allowed-cidrs src 10.1.0.0/16" in text
    assert "stick " not in text  # APP_COOKIE with an unusable cookie name is left out
    assert "http-check send hdr Host" not in text  # the domain name held a line break
    assert "log-format '- lb-1" in text  # the project id held a line break


def test_limits_follow_listeners_and_the_machine_cap() -> None:
    spec = SCENARIOS["tcp_members"]()
    assert global_maxconn(spec) == 2000
    two = replace(spec, listeners=spec.listeners + (replace(spec.listeners[0], id="l2", protocol_port=1),))
    assert global_maxconn(two) == 4000
    capped = replace(two, settings=RenderSettings(max_connections=3000))
    assert global_maxconn(capped) == 3000
    assert "    maxconn 3000\n" in render_haproxy(capped)
    unlimited = LoadBalancerSpec(id="lb", project_id=None, vip_addresses=("10.0.0.1",),
                                 listeners=(ListenerSpec(id="l", protocol="TCP", protocol_port=1),),
                                 settings=RenderSettings(default_connection_limit=50000, max_connections=9000))
    assert global_maxconn(unlimited) == 9000


def test_udp_listeners_and_admin_down_state_are_not_haproxy_s() -> None:
    text = render_haproxy(SCENARIOS["prometheus_and_limits"]())
    assert "listener-udp" not in text and "pool-udp" not in text
    assert "frontend listener-metrics" in text and "use-service prometheus-exporter" in text
    assert "maxconn 8000" in text and "maxconn 100000" not in text
    assert "\n    log " not in text and "no log" in text


def test_crt_list_has_default_certificate_first() -> None:
    tls = ListenerTlsSpec(crt_list_path="/x/l.crt-list", certificates=("/x/d.pem", "/x/a.pem", "/x/d.pem"))
    assert render_crt_list(tls) == "/x/d.pem\n/x/a.pem\n"


def test_forwarded_for_and_port_only_reach_http_pools() -> None:
    """Octavia adds X-Forwarded-For/-Port for HTTP pools only; PROXY/PROXYV2 members get the client from the
    PROXY header. X-Forwarded-Proto follows the listener, whatever the pool."""
    headers = (("X-Forwarded-For", "true"), ("X-Forwarded-Port", "true"), ("X-Forwarded-Proto", "true"))
    pools = tuple(PoolSpec(id=f"pool-{p.lower()}", protocol=p, lb_algorithm="ROUND_ROBIN")
                  for p in ("HTTP", "PROXY", "PROXYV2"))
    listeners = tuple(ListenerSpec(id=f"l-{p.id}", protocol="HTTP", protocol_port=80 + n, default_pool_id=p.id,
                                   insert_headers=headers) for n, p in enumerate(pools))
    text = render_haproxy(LoadBalancerSpec(id="lb", project_id=None, vip_addresses=("10.0.0.1",),
                                           listeners=listeners, pools=pools))
    backends = {b.split("\n", 1)[0]: b for b in text.split("\nbackend ")[1:]}
    http, proxy, proxy2 = (backends[f"{p.id}:l-{p.id}"] for p in pools)
    assert "option forwardfor" in http and "set-header X-Forwarded-Port" in http
    for backend in (proxy, proxy2):
        assert "option forwardfor" not in backend and "X-Forwarded-Port" not in backend
        assert "http-request set-header X-Forwarded-Proto http" in backend


def test_agent_reads_listener_types_back_from_rendered_configs() -> None:
    """GET /1.0/listeners and /details name listeners by the frontends of the applied config (Octavia's agent
    parses the file): mode upper-cased, TERMINATED_HTTPS for a TLS bind."""
    text = render_haproxy(SCENARIOS["proxy_protocol"]()) + render_haproxy(SCENARIOS["prometheus_and_limits"]())
    assert parse_frontends(text) == {"listener-1": "TCP", "listener-2": "HTTP", "listener-3": "TERMINATED_HTTPS",
                                     "listener-metrics": "HTTP", "listener-tcp": "TCP"}
    assert parse_frontends("defaults\n    mode http\nfrontend fe\n    bind :80\nbackend be\n    mode tcp\n") == \
        {"fe": "HTTP"}
