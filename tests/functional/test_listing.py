"""Listing (§5) and request conventions (§1) on the load balancer collection, on every DB backend."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.conftest import PUBLIC_SUBNET
from tests.support.controller import Api

LBS = "/v2/lbaas/loadbalancers"


def _make(api: Api) -> list[dict]:
    specs = [("alpha", ["a", "x"], True, "p1"), ("bravo", ["b", "x"], True, "p1"), ("charlie", ["a", "b"], False, "p2"),
             ("delta", [], True, "p2"), ("echo", ["x"], True, "p1")]
    ids = []
    for name, tags, up, project in specs:
        body = {"loadbalancer": {"name": name, "tags": tags, "admin_state_up": up, "vip_subnet_id": PUBLIC_SUBNET,
                                 "project_id": project}}
        resp = api.post(LBS, body)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["loadbalancer"]["id"])
    return [api.wait_lb(i) for i in ids]


def names(resp: object) -> list[str]:
    return [lb["name"] for lb in resp.json()["loadbalancers"]]  # type: ignore[attr-defined]


def test_filters_fields_sorting_and_pagination(api: Api) -> None:
    lbs = _make(api)
    by_name = {lb["name"]: lb for lb in lbs}

    # Filters: any attribute, lenient booleans, ANDed; unknown keys and repeated keys are 400.
    assert names(api.get(f"{LBS}?name=bravo")) == ["bravo"]
    assert names(api.get(f"{LBS}?admin_state_up=f")) == ["charlie"]
    assert sorted(names(api.get(f"{LBS}?admin_state_up=yes&project_id=p2"))) == ["delta"]
    assert names(api.get(f"{LBS}?id={by_name['echo']['id']}")) == ["echo"]
    assert names(api.get(f"{LBS}?id=00000000-0000-0000-0000-000000000000")) == []
    bad = api.get(f"{LBS}?colour=red")
    assert bad.status_code == 400
    assert bad.json()["faultstring"] == "One or more arguments are either duplicate or invalid"
    assert api.get(f"{LBS}?admin_state_up=maybe").status_code == 400

    # Tag filters (§2.13), comma separated or repeated.
    assert sorted(names(api.get(f"{LBS}?tags=a,x"))) == ["alpha"]
    assert sorted(names(api.get(f"{LBS}?tags-any=a&tags-any=b"))) == ["alpha", "bravo", "charlie"]
    assert sorted(names(api.get(f"{LBS}?not-tags=a,b"))) == ["alpha", "bravo", "delta", "echo"]
    assert sorted(names(api.get(f"{LBS}?not-tags-any=x"))) == ["charlie", "delta"]

    # fields= keeps only the named keys (tenant_id too goes away).
    only = api.get(f"{LBS}?fields=id&fields=name&name=alpha").json()["loadbalancers"]
    assert only == [{"id": by_name["alpha"]["id"], "name": "alpha"}]
    one = api.get(f"{LBS}/{by_name['alpha']['id']}?fields=name").json()
    assert one == {"loadbalancer": {"name": "alpha"}}

    # Sorting, both syntaxes; bad key or direction is 400.
    assert names(api.get(f"{LBS}?sort=name:desc")) == ["echo", "delta", "charlie", "bravo", "alpha"]
    assert names(api.get(f"{LBS}?sort_key=admin_state_up,name&sort_dir=asc,desc")) == [
        "charlie", "echo", "delta", "bravo", "alpha"]
    resp = api.get(f"{LBS}?sort=colour:asc")
    assert (resp.status_code, resp.json()["faultstring"]) == (400, "Supplied sort key 'colour' is not valid.")
    resp = api.get(f"{LBS}?sort=name:sideways")
    assert (resp.status_code, resp.json()["faultstring"]) == (400, "Supplied sort direction 'sideways' is not valid.")

    # Pagination: a full page gets a next link, a page after a marker a previous link; filters are not carried.
    page1 = api.get(f"{LBS}?limit=2&sort=name:asc&admin_state_up=true").json()
    assert names_of(page1) == ["alpha", "bravo"]
    (nxt,) = [link for link in page1["loadbalancers_links"] if link["rel"] == "next"]
    q = parse_qs(urlparse(nxt["href"]).query)
    assert q == {"limit": ["2"], "sort": ["name:asc"], "marker": [by_name["bravo"]["id"]]}
    page2 = api.get(f"{LBS}?limit=2&sort=name:asc&marker={by_name['bravo']['id']}").json()
    assert names_of(page2) == ["charlie", "delta"]
    assert [link["rel"] for link in page2["loadbalancers_links"]] == ["previous", "next"]  # Octavia's order
    page3 = api.get(f"{LBS}?limit=2&sort=name:asc&marker={by_name['delta']['id']}").json()
    assert names_of(page3) == ["echo"]
    assert [link["rel"] for link in page3["loadbalancers_links"]] == ["previous"]
    back = api.get(f"{LBS}?limit=2&sort=name:asc&marker={by_name['delta']['id']}&page_reverse=True").json()
    assert names_of(back) == ["bravo", "charlie"]
    # Default order is creation order (created_at, then id); limit < 1 means the maximum page.
    assert names_of(api.get(f"{LBS}?limit=0").json()) == ["alpha", "bravo", "charlie", "delta", "echo"]
    resp = api.get(f"{LBS}?marker=00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 400
    assert resp.json()["faultstring"] == (
        "Supplied pagination marker '00000000-0000-0000-0000-000000000000' is not valid.")
    resp = api.get(f"{LBS}?limit=lots")
    assert (resp.status_code, resp.json()["faultstring"]) == (400, "Supplied pagination limit 'lots' is not valid.")
    assert api.get(f"{LBS}?limit=2").json()["loadbalancers_links"][0]["rel"] == "next"


def names_of(body: dict) -> list[str]:
    return [lb["name"] for lb in body["loadbalancers"]]


def test_request_conventions(sqlite_api: Api) -> None:
    api = sqlite_api
    lb = api.create_lb(name="conv")
    # Version document and the /v2 stubs.
    doc = api.get("/").json()["versions"]
    assert doc[0]["id"] == "v2.0" and doc[-1] == {
        "id": "v2.30", "status": "CURRENT", "updated": "2025-02-26T00:00:00Z",
        "links": [{"href": "http://testserver/v2", "rel": "self"}]}
    assert {v["status"] for v in doc[:-1]} == {"SUPPORTED"}
    assert api.get("/v2").json() == "v2"
    # /v2.0 alias, .json suffix, request id header.
    resp = api.get(f"/v2.0/lbaas/loadbalancers/{lb['id']}.json")
    assert resp.status_code == 200 and resp.json()["loadbalancer"]["id"] == lb["id"]
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    # Unknown query parameters on a GET by id are ignored (openstacksdk sends some).
    assert api.get(f"{LBS}/{lb['id']}?pool_id=x").status_code == 200
    # Accept other than JSON: 406 with its own body shape.
    resp = api.client.get(LBS, headers={**api.headers, "Accept": "text/html"})
    assert resp.status_code == 406 and resp.json()["errors"][0]["status"] == 406
    assert api.client.get(LBS, headers={**api.headers, "Accept": ""}).status_code == 200
    # Oversized bodies: 413.
    resp = api.client.post(LBS, content=b"{" + b" " * 200_000 + b"}",
                           headers={**api.headers, "Content-Type": "application/json"})
    assert resp.status_code == 413
    # Malformed bodies: 400 faults, never 5xx.
    for raw in (b"{bad", b"[]", b"null", b'{"loadbalancer": []}', b'{"loadbalancer": {"name": 5}}'):
        resp = api.client.post(LBS, content=raw, headers={**api.headers, "Content-Type": "application/json"})
        assert resp.status_code == 400, (raw, resp.text)
        assert resp.json()["faultcode"] == "Client"
    # Timestamps are naive ISO-8601 without zone; updated_at is set by an update.
    assert "+" not in lb["created_at"] and not lb["created_at"].endswith("Z")
    resp = api.put(f"{LBS}/{lb['id']}", {"loadbalancer": {"description": "hello"}})
    assert resp.status_code == 200 and resp.json()["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    assert api.wait_lb(lb["id"])["description"] == "hello"


def test_openapi_document_lists_the_v2_resources(sqlite_api: Api) -> None:
    doc = sqlite_api.get("/openapi.json").json()
    assert "/v2/lbaas/loadbalancers" in doc["paths"] and "/v2/lbaas/pools/{pool_id}/members" in doc["paths"]
