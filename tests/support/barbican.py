"""A real Barbican on loopback beside the suite's Keystone, and an Ostia whose cert manager reads it.

Barbican runs from the Keystone service venv (`.state/keystone-venv`; `scripts/setup --test` installs it, or
`ensure_barbican` here) under gunicorn, on SQLite, with the simple_crypto plugin and keystonemiddleware against
the suite's Keystone; the catalog gets a `key-manager` service, and an Ostia on real amphorae uses it. Started
lazily: only tests that ask for the `barbican` fixture pay for it. Users (roles in their project):

    tls_a   project_a   member (Barbican's creator role in the new defaults), load-balancer_member
    tls_b   project_b   the same
    barbican service    service (validates tokens for Barbican's auth_token)
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import subprocess
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from ostia.drivers.compute.local import delete_all
from tests.support import keystone as ks
from tests.support.processes import free_port, stop, wait_http

BARBICAN_USER, BARBICAN_PASSWORD = "barbican", "barbican-service-secret"
TLS_USERS = {"tls_a": "project_a", "tls_b": "project_b"}
ROLES = ("member", "load-balancer_member")
REAL_DRIVERS = ("controller_worker.compute_driver=local", "controller_worker.network_driver=loopback",
                "controller_worker.amphora_driver=agent")

PASTE_INI = """\
[composite:main]
use = egg:Paste#urlmap
/: versions
/v1: v1

[pipeline:versions]
pipeline = request_id versionapp

[pipeline:v1]
pipeline = request_id authtoken context microversion apiapp

[app:apiapp]
paste.app_factory = barbican.api.app:create_main_app

[app:versionapp]
paste.app_factory = barbican.api.app:create_version_app

[filter:context]
paste.filter_factory = barbican.api.middleware.context:ContextMiddleware.factory

[filter:microversion]
paste.filter_factory = barbican.api.middleware.microversion:MicroversionMiddleware.factory

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory

[filter:request_id]
paste.filter_factory = oslo_middleware.request_id:RequestId.factory
"""


def ensure_barbican() -> Path:
    """The Keystone venv with Barbican in it (what `scripts/setup --test` installs)."""
    bin_dir = ks.ensure_keystone_venv()
    if not (bin_dir / "barbican-manage").exists():
        ks.run([str(bin_dir / "pip"), "install", "-q", "--disable-pip-version-check", "barbican"], timeout=600)
    return bin_dir


def _password(user: str) -> str:
    return f"{user}-pw"


@contextlib.contextmanager
def running_barbican(workdir: Path, auth_url: str) -> Iterator[str]:
    """Barbican on a free loopback port; yields its root URL (the catalog's key-manager endpoint)."""
    bin_dir = ensure_barbican()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # oslo.config looks for ~/.barbican/barbican.conf; Barbican re-parses its config (with no arguments) on
    # several imports, so a --config-file would be forgotten: HOME points at the work dir instead.
    conf_dir = workdir / ".barbican"
    conf_dir.mkdir()
    (conf_dir / "barbican.conf").write_text(textwrap.dedent(f"""\
        [DEFAULT]
        host_href = {url}
        db_auto_create = True
        [database]
        connection = sqlite:///{workdir}/barbican.sqlite
        [secretstore]
        enabled_secretstore_plugins = store_crypto
        [crypto]
        enabled_crypto_plugins = simple_crypto
        [simple_crypto_plugin]
        kek = {base64.urlsafe_b64encode(os.urandom(32)).decode()}
        [oslo_policy]
        enforce_new_defaults = True
        enforce_scope = True
        """) + ks.authtoken_conf(auth_url, BARBICAN_USER, BARBICAN_PASSWORD))
    (workdir / "api-paste.ini").write_text(PASTE_INI)
    (workdir / "bb_wsgi.py").write_text(
        "import sys\n\nsys.argv = sys.argv[:1]\nfrom paste import deploy  # noqa: E402\n\n"
        f"application = deploy.loadapp('config:{workdir}/api-paste.ini')\n")
    env = dict(os.environ, HOME=str(workdir), PYTHONPATH=str(workdir))
    log = workdir / "barbican.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
                                 "--threads", "1", "--timeout", "120", "bb_wsgi:application"],
                                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(url + "/", proc, log, timeout=120)
        yield url
    finally:
        stop(proc)


def register(auth_url: str, barbican_url: str) -> None:
    """The key-manager catalog entry, Barbican's service user, and the users storing certificates."""
    import openstack

    conn = openstack.connect(load_yaml_config=False, load_envvars=False, region_name=ks.REGION, auth_url=auth_url,
                             username="admin", password=ks.ADMIN_PASSWORD, project_name="admin",
                             user_domain_name="Default", project_domain_name="Default")
    try:
        ident = conn.identity
        service = ident.create_service(name="barbican", type="key-manager")
        for interface in ("public", "internal", "admin"):
            ident.create_endpoint(service_id=service.id, interface=interface, url=barbican_url, region_id=ks.REGION)
        roles = {r.name: r for r in ident.roles()}
        accounts = {BARBICAN_USER: ("service", ("service",)), **{u: (p, ROLES) for u, p in TLS_USERS.items()}}
        for user, (project_name, user_roles) in accounts.items():
            project = ident.find_project(project_name, ignore_missing=False)
            password = BARBICAN_PASSWORD if user == BARBICAN_USER else _password(user)
            created = ident.create_user(name=user, password=password, domain_id="default",
                                        default_project_id=project.id)
            for role in user_roles:
                ident.assign_project_role_to_user(project, created, roles[role])
    finally:
        conn.close()


def service_auth_conf(auth_url: str) -> str:
    """The ostia.conf sections of a Barbican-backed cert manager reading as the Ostia service user."""
    return textwrap.dedent(f"""\
        [certificates]
        cert_manager = barbican_cert_manager
        region_name = {ks.REGION}
        endpoint_type = public
        [service_auth]
        auth_type = password
        auth_url = {auth_url}
        username = {ks.SERVICE_USER}
        password = {ks.SERVICE_PASSWORD}
        project_name = service
        user_domain_name = Default
        project_domain_name = Default
        """)


@dataclasses.dataclass
class BarbicanCloud:
    url: str
    auth_url: str
    ostia_url: str  # an Ostia in keystone mode with cert_manager = barbican_cert_manager, on real amphorae
    ostia_state: Path
    projects: dict[str, str]

    def session(self, user: str) -> ks_session.Session:
        return ks_session.Session(auth=v3.Password(
            auth_url=self.auth_url, username=user, password=_password(user), project_name=TLS_USERS[user],
            user_domain_name="Default", project_domain_name="Default"), timeout=30)

    def client(self, user: str) -> Any:
        """python-barbicanclient as `user`, through the catalog."""
        from barbicanclient import client as barbican_client

        return barbican_client.Client(session=self.session(user), region_name=ks.REGION)

    def ostia(self, user: str) -> httpx.Client:
        token = self.session(user).get_token()
        return httpx.Client(base_url=self.ostia_url, headers={"X-Auth-Token": str(token)}, timeout=60)

    def ostia_conf(self) -> str:
        return service_auth_conf(self.auth_url)


@pytest.fixture(scope="session")
def barbican(keystone: ks.KeystoneCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BarbicanCloud]:
    """Barbican registered in the suite's Keystone, plus an Ostia using it (see the module docstring)."""
    bb_dir = tmp_path_factory.mktemp("barbican")
    ostia_dir = tmp_path_factory.mktemp("ostia-barbican")
    ostia_port = free_port()
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(2) as pool:
        # Barbican's start (mostly imports) overlaps Ostia's; the catalog waits only for Barbican's URL.
        started = pool.submit(stack.enter_context, running_barbican(bb_dir, keystone.auth_url))
        # Real amphorae (loopback network, local compute, the agent): the worker reads the refs from Barbican
        # and HAProxy serves them. Imported here: the e2e conftest imports this module.
        from tests.e2e.conftest import isolation_settings

        state = ostia_dir / "state"
        stack.callback(delete_all, state / "amphorae")  # after `ostia up` stopped (the stack unwinds in reverse)
        ostia_url = stack.enter_context(ks.running_ostia(
            ostia_dir, keystone.auth_url, ostia_port, extra_conf=service_auth_conf(keystone.auth_url),
            settings=(*REAL_DRIVERS, *isolation_settings(state))))
        bb_url = started.result()
        register(keystone.auth_url, bb_url)
        yield BarbicanCloud(url=bb_url, auth_url=keystone.auth_url, ostia_url=ostia_url,
                            ostia_state=state, projects=keystone.projects)
