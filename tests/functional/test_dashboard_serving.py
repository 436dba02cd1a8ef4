"""How the API process serves the dashboard: the static pages (what a browser asks for, not only JSON), every
module the pages import shipped in the package, nothing fetched from the internet, and the API unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ostia.api.dashboard import STATIC
from tests.support.controller import running_controller

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
IMPORT = re.compile(r"""(?:import|from)\s*["'](\./[\w./-]+)["']""")


@pytest.fixture
def client(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_controller(sqlite_url, str(tmp_path_factory.mktemp("state"))) as ctl, TestClient(ctl.app) as c:
        yield c


def test_the_pages_are_served_to_a_browser_and_the_api_stays_json_only(client: TestClient) -> None:
    redirect = client.get("/dashboard", follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (307, "/dashboard/")
    page = client.get("/dashboard/", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text
    assert client.get("/dashboard/config").json() == {"auth_strategy": "noauth", "api_version": "v2"}
    assert client.get("/dashboard/no-such-file.js").status_code == 404
    # The API itself still answers only JSON (§1.3).
    assert client.get("/v2/lbaas/loadbalancers", headers={"Accept": "text/html"}).status_code == 406


def test_every_imported_module_is_shipped_and_nothing_comes_from_the_internet(client: TestClient) -> None:
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    for path in files:
        text = path.read_text().replace(SVG_NAMESPACE, "")  # a name, never fetched
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), f"{path} refers to another host"
        for module in IMPORT.findall(text):
            served = client.get(f"/dashboard/{(path.parent / module).resolve().relative_to(STATIC)}")
            assert served.status_code == 200, (path, module)
            assert "javascript" in served.headers["content-type"]
    assert {p.name for p in files} >= {"index.html", "style.css", "main.js", "wizard.js", "detail.js", "graph.js"}
