"""Every golden haproxy.cfg is accepted by the real `haproxy -c` (HAProxy 2.6 from Debian), with zero warnings.

The golden files name paths under /var/lib/ostia; here they are moved into a temporary directory where the
certificates, CA, CRL, crt-lists and server-state file they reference are created (generated with
`cryptography`), as the agent will write them before a reload.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ostia.domain.spec import LoadBalancerSpec
from ostia.render.haproxy import render_crt_list
from tests.support.haproxy_scenarios import BASE, SCENARIOS
from tests.support.pki import Pki

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (scripts/setup installs it)")


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def _write(path: str, data: bytes, root: Path) -> None:
    target = Path(path.replace(BASE, str(root), 1))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _materialize(spec: LoadBalancerSpec, root: Path, pki: Pki) -> None:
    """Create every file the config names, as the agent does before it (re)loads HAProxy."""
    for li in spec.listeners:
        if li.tls is None:
            continue
        for n, cert in enumerate(li.tls.certificates):
            _write(cert, pki.bundle_pem(f"site{n}.example.com"), root)
        _write(li.tls.crt_list_path, render_crt_list(li.tls).replace(BASE, str(root)).encode(), root)
        if li.tls.client_ca_path:
            _write(li.tls.client_ca_path, pki.ca_pem(), root)
        if li.tls.client_crl_path:
            _write(li.tls.client_crl_path, pki.crl_pem(), root)
    for pool in spec.pools:
        if pool.tls is None:
            continue
        if pool.tls.client_cert_path:
            _write(pool.tls.client_cert_path, pki.bundle_pem("lb.example.com"), root)
        if pool.tls.ca_path:
            _write(pool.tls.ca_path, pki.ca_pem(), root)
        if pool.tls.crl_path:
            _write(pool.tls.crl_path, pki.crl_pem(), root)
    if spec.settings.server_state_file:
        _write(f"{spec.settings.base_dir}/{spec.id}/servers-state", b"1\n", root)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_config_passes_haproxy_check(name: str, tmp_path: Path, pki: Pki) -> None:
    spec = SCENARIOS[name]()
    assert spec.settings.base_dir == BASE
    _materialize(spec, tmp_path, pki)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text((GOLDEN / f"{name}.cfg").read_text().replace(BASE, str(tmp_path)))
    # -dW: warnings are errors, so the configs stay free of deprecated or ignored directives too.
    res = subprocess.run([HAPROXY, "-c", "-dW", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Configuration file is valid" in res.stdout


def test_haproxy_check_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: a directive HAProxy does not know is refused."""
    cfg = tmp_path / "haproxy.cfg"
    text = (GOLDEN / "http_round_robin.cfg").read_text().replace(BASE, str(tmp_path))
    cfg.write_text(text.replace("    balance roundrobin", "    balance roundrobin\n    bogus-directive 1"))
    (tmp_path / "lb-1").mkdir()
    (tmp_path / "lb-1" / "servers-state").write_text("1\n")
    res = subprocess.run([HAPROXY, "-c", "-dW", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "bogus-directive" in res.stdout + res.stderr
