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

import httpx
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.e2e.conftest import OstiaServer, ostia_up
from tests.functional.udp_support import udp_port
from tests.support.backends import Member
from tests.support.browser import chromium, screenshot_dir, until

pytestmark = pytest.mark.timeout(240)


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


class Page:
    """The browser on the dashboard: typing into fields by id, clicking, screenshots numbered in order."""

    def __init__(self, driver: Chrome, folder: Path) -> None:
        self.driver, self.folder, self.shots = driver, folder, 0

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
        path = self.folder / f"{self.shots:02d}-{name}.png"
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


def test_dashboard_creates_watches_and_deletes_a_load_balancer(server: OstiaServer, members: list[Member]) -> None:
    folder = screenshot_dir()
    print(f"dashboard screenshots: {folder}")
    project = f"dash-{uuid.uuid4().hex[:8]}"
    subnets = {s["name"]: s["id"] for s in server.get_json("/v2.0/subnets")["subnets"]}
    with chromium() as driver:
        page = Page(driver, folder)
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
        page.shot("detail-active-online")

        url = f"http://{lb['vip_address']}:8080/"
        answered = {httpx.get(url, timeout=5).json()["member"] for _ in range(40)}
        assert answered == {"web-a", "web-b"}
        until("the statistics of 40 requests", lambda: int(
            page.find("#total-total_connections").get_attribute("data-value")) >= 40, timeout=30)
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
