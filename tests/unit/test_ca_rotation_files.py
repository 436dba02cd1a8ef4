"""The local CA's rotation steps on disk: which CA signs what, what is trusted, file modes, another process's
view, and a rotation interrupted between its state write and its file moves."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509

from ostia.drivers.certificates.base import CertificateError
from ostia.drivers.certificates.local_ca import LocalCertificateDriver
from ostia.drivers.certificates.tls import ControllerTls

PASS = "rotation-pass"


def issuer(pem: bytes) -> str:
    return x509.load_pem_x509_certificate(pem).issuer.rfc4514_string()


def trusted(driver: LocalCertificateDriver) -> set[str]:
    pems = [b + b"-----END CERTIFICATE-----\n" for b in driver.ca_bundle().split(b"-----END CERTIFICATE-----\n")
            if b.strip()]
    return {x509.load_pem_x509_certificate(p).subject.rfc4514_string() for p in pems}


def test_rotation_moves_issuing_then_trust_and_another_process_follows(tmp_path: Path) -> None:
    ca, other = LocalCertificateDriver(tmp_path / "ca", PASS), LocalCertificateDriver(tmp_path / "ca", PASS)
    client_v1 = other.client_cert_files()[0].read_bytes()
    gen1 = "CN=Ostia amphora CA,O=Ostia"
    gen2 = "CN=Ostia amphora CA 2,O=Ostia"
    assert trusted(other) == {gen1} and other.server_generation == 1

    ca.begin_rotation(dt.timedelta(hours=1))
    # Distributing: both trusted; server certificates from the new CA; the client certificate stays.
    assert trusted(other) == {gen1, gen2} and other.server_generation == 2
    assert issuer(other.issue_server_cert("amp").cert_pem) == gen2
    assert other.client_cert_files()[0].read_bytes() == client_v1
    with pytest.raises(CertificateError, match="already in progress"):
        ca.begin_rotation(dt.timedelta(hours=1))

    ca.promote()
    state = other.rotation_state()
    assert state["phase"] == "grace" and state["generation"] == 2 and not other.grace_over()
    assert trusted(other) == {gen1, gen2}
    cert = other.client_cert_files()[0].read_bytes()  # re-issued from the new CA
    assert cert != client_v1 and issuer(cert) == gen2

    ca.finish_rotation()
    assert trusted(other) == {gen2} and other.rotation_state()["phase"] == "none"
    names = sorted(p.name for p in (tmp_path / "ca").iterdir())
    assert "ca-old.pem" not in names and "ca-next.key" not in names
    for path in (tmp_path / "ca").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_crash_after_the_state_write_is_completed_by_the_next_reader(tmp_path: Path) -> None:
    ca = LocalCertificateDriver(tmp_path / "ca", PASS)
    ca.begin_rotation(dt.timedelta(seconds=0))
    # As if promote() died right after writing rotation.json: no file moved yet.
    state_file = tmp_path / "ca" / "rotation.json"
    state = json.loads(state_file.read_text())
    state.update(phase="grace", generation=2, grace_until=dt.datetime.now(dt.UTC).isoformat())
    state_file.write_text(json.dumps(state))
    fresh = LocalCertificateDriver(tmp_path / "ca", PASS)
    assert issuer(fresh.issue_client_cert("x").cert_pem) == "CN=Ostia amphora CA 2,O=Ostia"
    assert (tmp_path / "ca" / "ca-old.pem").exists() and not (tmp_path / "ca" / "ca-next.pem").exists()
    assert fresh.grace_over()


def test_controller_context_is_rebuilt_only_when_something_changed(tmp_path: Path) -> None:
    ca = LocalCertificateDriver(tmp_path / "ca", PASS)
    tls = ControllerTls(LocalCertificateDriver(tmp_path / "ca", PASS))
    assert tls.refresh() is not None
    assert tls.refresh() is None  # nothing changed
    ca.begin_rotation(dt.timedelta(hours=1))
    assert tls.refresh() is not None  # a new CA to trust
    ca.promote()
    assert tls.refresh() is not None  # and a new client certificate
    assert issuer((tmp_path / "ca" / "ostia-controller.pem").read_bytes()) == "CN=Ostia amphora CA 2,O=Ostia"


class _NoAmphorae:
    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        yield SimpleNamespace(scalars=lambda *_: [])


def test_a_step_another_process_took_meanwhile_is_not_an_error(tmp_path: Path) -> None:
    """Two housekeepers (or `ostia ca rotate` and housekeeping) distributing at once both find nothing left
    and both promote, later both finish: the second one of each is a no-op, not a CertificateError."""
    from ostia.housekeeping.ca_rotation import CaRotation

    target: Any = SimpleNamespace(put_ca_bundle=lambda *_: None, put_server_certificate=lambda *_: None)
    first = CaRotation(_NoAmphorae(), LocalCertificateDriver(tmp_path / "ca", PASS), target)  # type: ignore[arg-type]
    second = CaRotation(_NoAmphorae(), LocalCertificateDriver(tmp_path / "ca", PASS), target)  # type: ignore[arg-type]
    first.certs.begin_rotation(dt.timedelta(0))
    assert second.certs.rotation_state()["phase"] == "distributing"
    assert first._distribute_and_promote().phase == "grace"
    assert second._distribute_and_promote().phase == "grace"  # it had seen "distributing" too
    assert first.finish().phase == "none"
    assert second.finish().phase == "none"
    assert first.certs.rotation_state()["generation"] == 2
