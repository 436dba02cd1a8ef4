"""The pure parts of the heartbeat: HAProxy's status words, counter deltas, their file, controller targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostia.agent.heartbeat_sender import parse_target
from ostia.agent.heartbeat_stats import Counters, delta, listener_status, member_status, parse_haproxy


@pytest.mark.parametrize(("status", "weight", "expected"), [
    ("UP", "1", "UP"), ("UP 1/3", "1", "UP"), ("UP", "0", "DRAIN"), ("DOWN", "1", "DOWN"),
    ("DOWN 1/2", "1", "DOWN"), ("MAINT", "1", "MAINT"), ("MAINT (resolution)", "1", "MAINT"),
    ("MAINT(via)", "1", "MAINT"), ("DRAIN", "1", "DRAIN"), ("DRAIN (agent)", "0", "DRAIN"),
    ("NOLB", "1", "DRAIN"), ("no check", "1", "no check"), ("something new", "1", "DOWN"),
])
def test_server_status_words_become_the_five_the_health_manager_knows(status: str, weight: str,
                                                                      expected: str) -> None:
    assert member_status({"status": status, "weight": weight}) == expected


def test_a_frontend_at_its_session_limit_is_full_and_a_stopped_one_down() -> None:
    assert listener_status({"status": "OPEN", "scur": "99", "slim": "100"}) == "OPEN"
    assert listener_status({"status": "OPEN", "scur": "100", "slim": "100"}) == "FULL"
    assert listener_status({"status": "OPEN", "scur": "5", "slim": ""}) == "OPEN"
    assert listener_status({"status": "STOP", "scur": "0", "slim": "100"}) == "DOWN"


def test_internal_proxies_and_foreign_backends_are_left_out() -> None:
    rows = [{"pxname": "prometheus-exporter", "svname": "FRONTEND", "type": "0", "status": "OPEN"},
            {"pxname": "l1", "svname": "FRONTEND", "type": "0", "status": "OPEN", "scur": "2", "bin": "10"},
            {"pxname": "stray", "svname": "BACKEND", "type": "1", "status": "UP"},
            {"pxname": "p1:l1", "svname": "m1", "type": "2", "status": "UP", "weight": "1", "stot": "3",
             "bout": "70", "econ": "1", "scur": "1"},
            {"pxname": "p1:l1", "svname": "BACKEND", "type": "1", "status": "UP"}]
    out = parse_haproxy(rows)
    assert out.listeners == {"l1": {"status": "OPEN", "conns": 2}}
    assert out.counters == {"l1": {"bout": 0, "bin": 10, "stot": 0, "ereq": 0}}
    assert out.pools == {"p1:l1": {"status": "UP", "members": {"m1": "UP"}}}
    assert out.member_counters == {"p1:l1/m1": {"bout": 70, "bin": 0, "stot": 3, "econ": 1, "eresp": 0}}
    assert out.member_conns == {"p1:l1/m1": 1}


def test_a_counter_that_went_backwards_was_reset() -> None:
    assert delta(15, 10) == 5
    assert delta(3, 10) == 3
    assert delta(7, None) == 7


def test_counters_survive_in_their_file_and_forget_deleted_load_balancers(tmp_path: Path) -> None:
    path = tmp_path / "stats_counters.json"
    first = Counters(path)
    assert first.deltas("lb1", {"l1": {"bout": 100, "bin": 10, "stot": 2, "ereq": 0}}) == {
        "l1": {"tx": 100, "rx": 10, "totconns": 2, "ereq": 0}}
    first.deltas("lb2", {"l2": {"bout": 1, "bin": 1, "stot": 1, "ereq": 1}})
    first.save()
    again = Counters(path)  # a restarted agent
    assert again.deltas("lb1", {"l1": {"bout": 150, "bin": 10, "stot": 3, "ereq": 0}}) == {
        "l1": {"tx": 50, "rx": 0, "totconns": 1, "ereq": 0}}
    again.keep_only({"lb1"})
    again.save()
    assert Counters(path).deltas("lb2", {"l2": {"bout": 1, "bin": 1, "stot": 1, "ereq": 1}})["l2"]["tx"] == 1
    path.write_text("{not json")
    assert Counters(path).deltas("lb1", {"l1": {"bout": 5, "bin": 0, "stot": 0, "ereq": 0}})["l1"]["tx"] == 5


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5555", ("127.0.0.1", 5555)), ("[::1]:5555", ("::1", 5555)), (" hm.example:1 ", ("hm.example", 1)),
])
def test_controller_targets(text: str, expected: tuple[str, int]) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:5555", "[nope]:1", ":5555"])
def test_bad_controller_targets(text: str) -> None:
    with pytest.raises(ValueError):
        parse_target(text)
