"""Shared fixtures: a migrated database per backend and an in-process controller with a real worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.controller import Api, running_controller
from tests.support.databases import BACKENDS, fresh_database

PUBLIC_SUBNET = "d05a7bde-cca3-5925-ad49-7a8b3df07363"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One fresh database per test on each backend (SQLite, PostgreSQL, MariaDB)."""
    with fresh_database(request.param, str(tmp_path_factory.mktemp("db"))) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database("sqlite", str(tmp_path_factory.mktemp("db"))) as url:
        yield url


@pytest.fixture
def controller(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with running_controller(db_url, str(tmp_path_factory.mktemp("state"))) as ctl:
        yield ctl


@pytest.fixture
def api(controller: object) -> Iterator[Api]:
    with TestClient(controller.app) as client:  # type: ignore[attr-defined]
        yield Api(client)


@pytest.fixture
def sqlite_api(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API on SQLite only, for tests that are not about the database backend."""
    with running_controller(sqlite_url, str(tmp_path_factory.mktemp("state"))) as ctl, TestClient(ctl.app) as c:
        yield Api(c)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for `pytest -n N --dist loadgroup` (scripts/test): a module's tests stay on one worker so its
    module-scoped fixtures are made once, and every test using the suite's Keystone shares one worker so the
    (slow to start) Keystone is started once."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        group = "keystone" if "keystone" in fixtures else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
