"""The web dashboard in headless Chromium against a real `ostia up` (local amphorae, real HAProxy, two real
member servers): pick a project, create a load balancer through all five wizard steps (first with a bad port,
which the API refuses and the wizard shows beside the Listener step), watch it go ACTIVE with members ONLINE
from the health manager, see the traffic graph move with real requests through the VIP, delete it.

Every page and step is saved as a PNG in `<repo>/.state/screenshots/` (or $OSTIA_SCREENSHOTS).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.e2e.conftest import OstiaServer, ostia_up
from tests.functional.udp_support import udp_port
from tests.support import keystone as keystone_support
from tests.support.backends import Member, request
from tests.support.browser import chromium, screenshot_dir, until

pytestmark = pytest.mark.e2e
LBS = "/v2/lbaas/loadbalancers"
REQUESTS = 20


@pytest.fixture(scope="module")
def net() -> int:
    return random.randrange(100, 250)


@pytest.fixture(scope="module")
def server(net: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OstiaServer]:
    # A heartbeat port of its own, so the health manager inside this `ostia up` hears only its amphorae.
    with ostia_up(tmp_path_factory.mktemp("ostia-dashboard"),
                  f"networking.networks=public:public-subnet:127.{net}.1.0/24,private:private-subnet:127.{net}.2.0/24",
                  f"local_compute.mgmt_cidr=127.{net}.3.0/24",
                  f"health_manager.bind_port={udp_port('127.0.0.1')}") as srv:
        yield srv


@pytest.fixture(scope="module")
def members(net: int) -> Iterator[list[Member]]:
    servers = [Member(name, f"127.{net}.2.{i}") for name, i in (("web-a", 60), ("web-b", 61))]
    try:
        yield servers
    finally:
        for m in servers:
            m.stop()


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    with chromium() as browser:
        yield browser


class Page:
    """The browser on the dashboard: typing into fields by id, clicking, screenshots numbered in order."""

    def __init__(self, driver: Chrome, prefix: str) -> None:
        self.driver, self.folder, self.prefix, self.shots = driver, screenshot_dir(), prefix, 0

    def find(self, css: str) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def type(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def pick(self, css: str, value: str) -> None:
        Select(self.find(css)).select_by_value(value)

    def click(self, css: str) -> None:
        self.find(css).click()

    def step(self, step_id: str) -> None:
        until(f"wizard step {step_id}", lambda: self.find(f"#step-{step_id}"))

    def shot(self, name: str) -> Path:
        self.shots += 1
        path = self.folder / f"{self.prefix}-{self.shots:02d}-{name}.png"
        # The whole page, not just the window: size the window to the document (plus the window's own frame).
        height, frame = self.driver.execute_script(
            "window.scrollTo(0, 0); return [document.body.scrollHeight, window.outerHeight - window.innerHeight]")
        self.driver.set_window_size(1280, max(800, min(int(height) + int(frame) + 24, 4000)))
        assert self.driver.save_screenshot(str(path)), path
        return path


def member_statuses(page: Page) -> list[str]:
    return [b.get_attribute("data-status") for b in page.all('#status-tree [data-kind="member"]')]


def wizard_to_the_end(page: Page, subnets: dict[str, str], members: list[Member], port: str) -> None:
    """Fill all five steps (Load Balancer → Listener → Pool → Members → Monitor), a screenshot of each."""
    page.click("#create-lb")
    page.step("lb")
    until("the subnets in the form", lambda: page.all(f'#lb-vip_subnet_id option[value="{subnets["public-subnet"]}"]'))
    page.type("#lb-name", "web")
    page.type("#lb-description", "created in the dashboard test")
    page.pick("#lb-vip_subnet_id", subnets["public-subnet"])
    page.shot("wizard-1-load-balancer-details")
    page.click("#wizard-next")

    page.step("listener")
    page.type("#listener-name", "web-http")
    page.pick("#listener-protocol", "HTTP")
    page.type("#listener-protocol_port", port)
    page.click('#listener-insert_headers input[name="X-Forwarded-For"]')
    page.shot("wizard-2-listener-details")
    page.click("#wizard-next")

    page.step("pool")
    page.type("#pool-name", "web-pool")
    page.pick("#pool-lb_algorithm", "ROUND_ROBIN")
    page.shot("wizard-3-pool-details")
    page.click("#wizard-next")

    page.step("members")
    for m in members:
        page.click("#add-member")
        row = page.all("#members-form tbody tr")[-1]
        row.find_element(By.CSS_SELECTOR, ".member-name").send_keys(m.name)
        row.find_element(By.CSS_SELECTOR, ".member-address").send_keys(m.address)
        Select(row.find_element(By.CSS_SELECTOR, ".member-subnet_id")).select_by_value(subnets["private-subnet"])
        row.find_element(By.CSS_SELECTOR, ".member-protocol_port").send_keys(str(m.port))
    page.shot("wizard-4-pool-members")
    page.click("#wizard-next")

    page.step("monitor")
    assert Select(page.find("#monitor-type")).first_selected_option.text == "HTTP"  # derived from the pool
    for field, value in (("delay", "1"), ("timeout", "1"), ("max_retries", "1"), ("max_retries_down", "2")):
        page.type(f"#monitor-{field}", value)
    page.type("#monitor-url_path", "/health")
    page.shot("wizard-5-monitor-details")
    page.click("#wizard-create")


def test_dashboard_creates_watches_and_deletes_a_load_balancer(server: OstiaServer, members: list[Member],
                                                               driver: Chrome) -> None:
    print(f"dashboard screenshots: {screenshot_dir()}")
    project = f"dash-{uuid.uuid4().hex[:8]}"
    subnets = {s["name"]: s["id"] for s in server.get_json("/v2.0/subnets")["subnets"]}
    driver.get_log("browser")  # start the console log afresh
    page = Page(driver, "noauth")
    driver.get(server.url + "/dashboard")
    until("the project form", lambda: page.find("#project"))
    page.shot("pick-project")
    page.type("#project", project)
    page.click("#login")
    until("the empty list", lambda: "None" in page.text("#lb-table"))
    assert page.text("#who-value") == project
    page.shot("list-empty")

    # A bad port: the API's own message, shown beside the Listener step, which is marked.
    wizard_to_the_end(page, subnets, members, "70000")
    error = until("the API's validation message", lambda: page.find("#step-listener #step-error").text)
    assert "protocol_port" in error and "70000" in error, error
    assert "invalid" in page.find('#wizard-steps li[data-step="listener"]').get_attribute("class")
    page.shot("wizard-validation-error")
    assert server.get_json(f"/v2/lbaas/loadbalancers?project_id={project}")["loadbalancers"] == []

    page.type("#listener-protocol_port", "8080")
    page.click("#wizard-create")
    lb_id = until("the detail page", lambda: driver.current_url.partition("#/lb/")[2])
    lb = server.get_json(f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"]
    assert (lb["name"], lb["project_id"]) == ("web", project), lb
    listener = server.get_json(f"/v2/lbaas/listeners/{lb['listeners'][0]['id']}")["listener"]
    assert (listener["protocol_port"], listener["insert_headers"]) == (8080, {"X-Forwarded-For": "true"})

    # ACTIVE, then ONLINE from the health manager (real health checks of the real members).
    until("ACTIVE", lambda: page.text("#lb-prov") == "ACTIVE", timeout=60)
    until("members ONLINE", lambda: member_statuses(page) == ["ONLINE", "ONLINE"], timeout=30)
    until("the load balancer ONLINE", lambda: page.text("#lb-oper") == "ONLINE", timeout=15)
    assert [r.text.split()[0] for r in page.all("#members-table tbody tr")] == ["web-a", "web-b"]
    assert "HTTP every 1s" in page.text("#pools-table")
    page.shot("detail-active-online")

    # Real requests through the VIP, each on a connection of its own; the wizard's X-Forwarded-For reached them.
    replies = [request(f"http://{lb['vip_address']}:8080/") for _ in range(REQUESTS)]
    assert {r.member for r in replies} == {"web-a", "web-b"}
    assert all(r.seen_header("X-Forwarded-For") for r in replies)
    until(f"the statistics of {REQUESTS} requests", lambda: int(
        page.find("#total-total_connections").get_attribute("data-value")) >= REQUESTS, timeout=30)
    until("the traffic graph", lambda: float(page.find("#graph-bytes").get_attribute("data-max")) > 0 and float(
        page.find("#graph-connections").get_attribute("data-max")) > 0)
    assert page.all('#graph-bytes polyline[data-series="bytes_out"]')
    page.shot("detail-traffic-graph")

    driver.get(server.url + "/dashboard/#/")
    until("the load balancer in the list",
          lambda: page.find(f'#lb-table tr[data-id="{lb_id}"] .oper').text == "ONLINE")
    page.shot("list-with-load-balancer")

    driver.get(server.url + f"/dashboard/#/lb/{lb_id}")
    until("the delete button", lambda: page.find("#delete-lb").is_enabled())
    page.click("#delete-lb")
    until("the confirmation", lambda: page.find("#confirm-delete"))
    page.shot("confirm-delete")
    page.click("#confirm-delete-button")
    until("the load balancer gone", lambda: page.all("#gone"), timeout=60)
    page.shot("deleted")
    assert server.http("GET", f"/v2/lbaas/loadbalancers/{lb_id}")[0] == 404
    until("the empty list again", lambda: "#/" in driver.current_url and "None" in page.text("#lb-table"))
    page.shot("list-after-delete")

    # The only failed requests expected: the refused create (400) and the polls that found the LB gone (404).
    refused = f"{server.url}/v2/lbaas/loadbalancers - Failed to load resource: the server responded with a " \
              "status of 400"
    gone = f"{server.url}/v2/lbaas/loadbalancers/{lb_id}"
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and not e["message"].startswith(refused)
              and not (e["message"].startswith(gone) and e["message"].endswith("status of 404 (Not Found)"))]
    assert errors == [], errors


@pytest.mark.keystone
def test_dashboard_in_keystone_mode_logs_in_with_a_token_and_sees_its_project(
        keystone: keystone_support.KeystoneCloud, driver: Chrome) -> None:
    """The pages are public, the data is not: a bad token gets Keystone's refusal, a member's token shows its
    project's load balancers only, and the admin-only failover timeline says so."""
    name = f"ks-{uuid.uuid4().hex[:6]}"
    mine, theirs = (create_lb(keystone, user, f"{name}-{user}") for user in ("member_a", "member_b"))
    try:
        page = Page(driver, "keystone")
        driver.get(keystone.ostia_url + "/dashboard/")
        until("the token form", lambda: page.find("#token"))
        assert not page.all("#project")
        page.shot("log-in-with-a-token")
        page.type("#token", "not-a-token")
        page.click("#login")
        error = until("the refusal", lambda: page.find("#lb-list .error").text)
        assert error == "The request you have made requires authentication.", error
        page.shot("bad-token")

        page.click("#logout")
        until("the token form again", lambda: page.find("#token"))
        page.type("#token", keystone.token("member_a"))
        page.click("#login")
        rows = until("the project's load balancers", lambda: page.all("#lb-table a.lb-name"))
        assert [r.text for r in rows] == [f"{name}-member_a"]
        page.shot("list-as-member")

        rows[0].click()
        until("the detail page", lambda: page.text("#lb-title") == f"{name}-member_a")
        until("the admin-only timeline", lambda: "Only administrators" in page.text("#timeline"))
        page.shot("detail-as-member")
    finally:
        for user, lb_id in (("member_a", mine), ("member_b", theirs)):
            with keystone.client(user) as client:
                resp = client.delete(f"{LBS}/{lb_id}")
                assert resp.status_code == 204, resp.text


def create_lb(keystone: keystone_support.KeystoneCloud, user: str, name: str) -> str:
    """A load balancer (noop drivers there) made with `user`'s token; its id once ACTIVE."""
    with keystone.client(user) as client:
        subnet = client.get("/v2.0/subnets?name=public-subnet").json()["subnets"][0]["id"]
        resp = client.post(LBS, json={"loadbalancer": {"name": name, "vip_subnet_id": subnet}})
        assert resp.status_code == 201, resp.text
        lb_id = str(resp.json()["loadbalancer"]["id"])
        until(f"{name} ACTIVE",
              lambda: client.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["provisioning_status"] == "ACTIVE")
        return lb_id
