"""A real Keystone on loopback plus an Ostia in keystone mode behind it, once per test session.

Keystone runs from its own virtualenv (`.state/keystone-venv`, made by `scripts/setup --test` or here) on SQLite,
served by gunicorn with one worker and one thread (SQLite + several threads gives "database is locked"). The
catalog points `load-balancer` and `network` at the Ostia started here. Projects, users and roles:

    admin       admin project   admin (implies manager, member, reader)
    member_a    project_a       load-balancer_member
    observer_a  project_a       load-balancer_observer
    reader_a    project_a       reader (the new-defaults observer role)
    norole_a    project_a       member of nothing Ostia knows (a role of its own)
    member_b    project_b       load-balancer_member
    global_obs  project_b       load-balancer_global_observer

and for the RBAC matrix, in each of project_a and project_b (`rbac_user(role, "a")` names them), one user per
entry of RBAC_ROLES: each load-balancer role, admin, and `norole` (a role Ostia does not know).
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import os
import pwd
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.support.processes import NOOP_ARGS, free_port, stop, wait_http

REPO = Path(__file__).resolve().parents[2]
KEYSTONE_VENV = REPO / ".state" / "keystone-venv"
REGION = "RegionOne"
ADMIN_PASSWORD = "secret"
LB_ROLES = ("load-balancer_member", "load-balancer_observer", "load-balancer_global_observer",
            "load-balancer_quota_admin", "load-balancer_admin")
# user key → (project, roles)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "member_a": ("project_a", ("load-balancer_member",)),
    "observer_a": ("project_a", ("load-balancer_observer",)),
    "reader_a": ("project_a", ("reader",)),
    "norole_a": ("project_a", ("unrelated",)),
    "member_b": ("project_b", ("load-balancer_member",)),
    "global_obs": ("project_b", ("load-balancer_global_observer",)),
}
# matrix role key → the Keystone role its users hold
RBAC_ROLES: dict[str, str] = {
    "observer": "load-balancer_observer", "global_observer": "load-balancer_global_observer",
    "member": "load-balancer_member", "quota_admin": "load-balancer_quota_admin", "lb_admin": "load-balancer_admin",
    "admin": "admin", "norole": "unrelated",
}


def rbac_user(role: str, project: str) -> str:
    """The matrix user holding RBAC_ROLES[role] in project_<project> ("a" or "b")."""
    return f"rbac_{project}_{role}"


USERS.update({rbac_user(role, p): (f"project_{p}", (ks_role,)) for p in "ab" for role, ks_role in RBAC_ROLES.items()})
SERVICE_USER, SERVICE_PASSWORD = "ostia", "ostia-service-secret"


@dataclasses.dataclass
class KeystoneCloud:
    auth_url: str
    ostia_url: str
    projects: dict[str, str]  # name → id
    _tokens: dict[str, str] = dataclasses.field(default_factory=dict)

    def credentials(self, user: str) -> dict[str, str]:
        project = "admin" if user == "admin" else USERS[user][0]
        return {"auth_url": self.auth_url, "username": user, "password": password_of(user),
                "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = self.fresh_token(user)
        return self._tokens[user]

    def fresh_token(self, user: str) -> str:
        """A new token, never cached here (nor yet by Ostia's auth_token)."""
        return str(ks_session.Session(auth=v3.Password(**self.credentials(user))).get_token())

    def revoke(self, token: str) -> None:
        """Keystone's own revocation (DELETE /v3/auth/tokens), asked by the admin."""
        resp = httpx.delete(f"{self.auth_url}/auth/tokens", timeout=30,
                            headers={"X-Auth-Token": self.token("admin"), "X-Subject-Token": token})
        assert resp.status_code == 204, resp.text

    def client(self, user: str | None) -> httpx.Client:
        """httpx straight at Ostia with `user`'s token (no token for None)."""
        headers = {"X-Auth-Token": self.token(user)} if user else {}
        return httpx.Client(base_url=self.ostia_url, headers=headers, timeout=30)

    def connect(self, user: str) -> Any:
        """openstacksdk through the catalog, like a real user with password credentials."""
        import openstack

        return openstack.connect(load_yaml_config=False, load_envvars=False, region_name=REGION,
                                 **self.credentials(user))


def password_of(user: str) -> str:
    return ADMIN_PASSWORD if user == "admin" else f"{user}-pw"


def ensure_keystone_venv() -> Path:
    """The same steps as `scripts/setup --test`, for a checkout where it was not run with --test."""
    stamp = KEYSTONE_VENV / ".installed"
    if not stamp.exists():
        KEYSTONE_VENV.parent.mkdir(parents=True, exist_ok=True)
        if not (KEYSTONE_VENV / "bin" / "python").exists():
            subprocess.run(["python3", "-m", "venv", str(KEYSTONE_VENV)], check=True)
        run([str(KEYSTONE_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "keystone",
              "gunicorn"], timeout=600)
        stamp.touch()
    return KEYSTONE_VENV / "bin"


def run(cmd: list[str], timeout: float = 120, env: dict[str, str] | None = None) -> None:
    """`cmd` to completion; a failure raises with its output (a venv install, `keystone-manage`)."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@contextlib.contextmanager
def running_keystone(workdir: Path) -> Iterator[str]:
    """Keystone on a free loopback port; yields its /v3 URL."""
    bin_dir = ensure_keystone_venv()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v3"
    conf = workdir / "keystone.conf"
    conf.write_text(textwrap.dedent(f"""\
        [database]
        connection = sqlite:///{workdir}/keystone.db
        [token]
        provider = fernet
        [fernet_tokens]
        key_repository = {workdir}/fernet-keys
        [fernet_receipts]
        key_repository = {workdir}/fernet-receipts
        [credential]
        key_repository = {workdir}/credential-keys
        [identity]
        # bcrypt's cheapest setting: every password login hashes once
        password_hash_rounds = 4
        """))
    manage = [str(bin_dir / "keystone-manage"), "--config-file", str(conf)]
    owner = ["--keystone-user", pwd.getpwuid(os.getuid()).pw_name, "--keystone-group",
             grp.getgrgid(os.getgid()).gr_name]
    with ThreadPoolExecutor(3) as pool:  # independent steps, each mostly keystone's import time
        list(pool.map(run, ([*manage, "db_sync"], [*manage, "fernet_setup", *owner],
                             [*manage, "credential_setup", *owner])))
    run([*manage, "bootstrap", "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-admin-url", url,
          "--bootstrap-public-url", url, "--bootstrap-internal-url", url, "--bootstrap-region-id", REGION])
    # keystone's oslo.config would parse gunicorn's argv and refuse "--bind ..."
    (workdir / "ks_wsgi.py").write_text("import sys\n\nsys.argv = sys.argv[:1]\n"
                                        "from keystone.wsgi.api import application  # noqa: E402,F401\n")
    env = dict(os.environ, OS_KEYSTONE_CONFIG_DIR=str(workdir), PYTHONPATH=str(workdir))
    log = workdir / "keystone.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
                                 "--threads", "1", "--timeout", "120", "ks_wsgi:application"],
                                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(url, proc, log)
        yield url
    finally:
        stop(proc)


def register(auth_url: str, ostia_url: str) -> dict[str, str]:
    """Catalog, roles, projects and users; returns project name → id."""
    import openstack

    conn = openstack.connect(load_yaml_config=False, load_envvars=False, region_name=REGION, auth_url=auth_url,
                             username="admin", password=ADMIN_PASSWORD, project_name="admin",
                             user_domain_name="Default", project_domain_name="Default")
    try:
        ident = conn.identity
        for name, kind in (("octavia", "load-balancer"), ("neutron", "network")):
            service = ident.create_service(name=name, type=kind)
            for interface in ("public", "internal", "admin"):
                ident.create_endpoint(service_id=service.id, interface=interface, url=ostia_url, region_id=REGION)
        roles = {r.name: r for r in ident.roles()}
        for name in (*LB_ROLES, "unrelated"):
            roles[name] = ident.create_role(name=name)
        projects = {"admin": ident.find_project("admin", ignore_missing=False)}
        for name in ("service", "project_a", "project_b"):
            projects[name] = ident.create_project(name=name, domain_id="default")
        accounts = {SERVICE_USER: ("service", ("service",)), **USERS}

        def add_user(user: str) -> None:
            project, user_roles = accounts[user]
            password = SERVICE_PASSWORD if user == SERVICE_USER else password_of(user)
            created = ident.create_user(name=user, password=password, domain_id="default",
                                        default_project_id=projects[project].id)
            for role in user_roles:
                ident.assign_project_role_to_user(projects[project], created, roles[role])

        # Keystone serves one request at a time; overlapping the client side still saves most of the wait.
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(add_user, accounts))
        return {name: p.id for name, p in projects.items()}
    finally:
        conn.close()


def authtoken_conf(auth_url: str, username: str, password: str) -> str:
    """The `[keystone_authtoken]` section of a service validating tokens against `auth_url` as `username`."""
    return textwrap.dedent(f"""\
        [keystone_authtoken]
        www_authenticate_uri = {auth_url}
        auth_url = {auth_url}
        auth_type = password
        username = {username}
        password = {password}
        project_name = service
        user_domain_name = Default
        project_domain_name = Default
        """)


@contextlib.contextmanager
def running_ostia(workdir: Path, auth_url: str, port: int, extra_conf: str = "",
                  settings: tuple[str, ...] = ()) -> Iterator[str]:
    """`ostia up` in keystone mode, its own state dir (`extra_conf`: more ostia.conf sections; `settings`: `--set`
    values, after the noop drivers so they can choose real ones); yields its URL."""
    conf = workdir / "ostia.conf"
    conf.write_text(authtoken_conf(auth_url, SERVICE_USER, SERVICE_PASSWORD) + extra_conf)
    url = f"http://127.0.0.1:{port}"
    log = workdir / "ostia.log"
    ostia = Path(sys.executable).parent / "ostia"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(ostia), "--state-dir", str(workdir / "state"), "--config-file", str(conf),
                                 "--set", "api_settings.auth_strategy=keystone",
                                 "--set", f"api_settings.bind_port={port}",
                                 # in-process jobs: a shared RabbitMQ would hand them to other servers
                                 "--set", "transport_url=", *NOOP_ARGS,
                                 *(arg for item in settings for arg in ("--set", item)), "up"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(url + "/", proc, log)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneCloud]:
    """Keystone + an Ostia in keystone mode registered in its catalog (see the module docstring)."""
    ks_dir = tmp_path_factory.mktemp("keystone")
    ostia_port = free_port()
    with running_keystone(ks_dir) as auth_url, ThreadPoolExecutor(1) as pool:
        # Ostia needs nothing from Keystone to start: boot it while the catalog and users are created.
        projects = pool.submit(register, auth_url, f"http://127.0.0.1:{ostia_port}")
        with running_ostia(tmp_path_factory.mktemp("ostia-keystone"), auth_url, ostia_port) as ostia_url:
            yield KeystoneCloud(auth_url=auth_url, ostia_url=ostia_url, projects=projects.result())
