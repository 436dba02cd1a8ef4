"""Real TLS traffic through the rendered config: termination (default and SNI certificates, client
authentication, CRL, versions, ALPN, HSTS, the X-SSL headers), passthrough, and re-encryption to members."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ostia.domain.spec import HstsSpec, ListenerSpec, MemberSpec, PoolSpec, PoolTlsSpec
from tests.support.dataplane import (
    Member,
    client_tls_context,
    dataplane,
    request,
    server_tls_context,
    tls_handshake,
)
from tests.support.pki import Issued, Pki

SSL_HEADERS = ("X-Forwarded-Proto", "X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN",
               "X-SSL-Client-CN", "X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before",
               "X-SSL-Client-Not-After")


@dataclass
class Rig:
    vip: str
    ports: dict[str, int]
    files: dict[str, Path]  # client-side PEM files: server CA, member CA, client bundles
    alice: Issued

    def url(self, listener: str, scheme: str = "https") -> str:
        return f"{scheme}://{self.vip}:{self.ports[listener]}/"

    def ctx(self, cert: str | None = None, **kw: object) -> ssl.SSLContext:
        return client_tls_context(self.files["server-ca"], self.files[cert] if cert else None, **kw)  # type: ignore[arg-type]


def _pool(pool_id: str, member: Member, protocol: str = "HTTP", tls: PoolTlsSpec | None = None) -> PoolSpec:
    return PoolSpec(id=pool_id, protocol=protocol, lb_algorithm="ROUND_ROBIN", tls=tls,
                    members=(MemberSpec(id=member.name, address=member.address, protocol_port=member.port),))


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    server_pki, client_pki, member_pki, rogue_pki = Pki("server CA"), Pki("client CA"), Pki("member CA"), Pki("rogue")
    alice, mallory = client_pki.issue("alice.example"), client_pki.issue("mallory.example")
    with dataplane() as dp:
        s = dp.settings()
        files = {name: Path(dp.write(s, f"client-{name}.pem", data)) for name, data in {
            "server-ca": server_pki.ca_pem(), "alice": alice.bundle, "mallory": mallory.bundle,
            "eve": rogue_pki.bundle_pem("eve.example")}.items()}
        plain = dp.member("m1")
        tls_member = dp.member("tm", tls=server_tls_context(
            Path(dp.write(s, "member.pem", member_pki.bundle_pem("member.example")))))
        certs = [server_pki.bundle_pem("lb.example"), server_pki.bundle_pem("sni.example")]
        ports = {name: dp.port() for name in ("mandatory", "optional", "tls13", "passthrough", "reencrypt",
                                              "reencrypt-wrong-ca")}
        headers = tuple((h, "true") for h in SSL_HEADERS)
        listeners = [
            ListenerSpec(id="mandatory", protocol="TERMINATED_HTTPS", protocol_port=ports["mandatory"],
                         default_pool_id="pool-plain", insert_headers=headers,
                         hsts=HstsSpec(max_age=31536000, include_subdomains=True, preload=True),
                         tls=dp.listener_tls(s, "mandatory", certs, client_ca=client_pki.ca_pem(),
                                             crl=client_pki.crl_pem(revoked=(mallory.serial,)),
                                             client_authentication="MANDATORY",
                                             alpn_protocols=("h2", "http/1.1"))),
            ListenerSpec(id="optional", protocol="TERMINATED_HTTPS", protocol_port=ports["optional"],
                         default_pool_id="pool-plain", insert_headers=headers,
                         tls=dp.listener_tls(s, "optional", certs, client_ca=client_pki.ca_pem(),
                                             client_authentication="OPTIONAL")),
            ListenerSpec(id="tls13", protocol="TERMINATED_HTTPS", protocol_port=ports["tls13"],
                         default_pool_id="pool-plain",
                         tls=dp.listener_tls(s, "tls13", certs[:1], versions=("TLSv1.3",))),
            ListenerSpec(id="passthrough", protocol="HTTPS", protocol_port=ports["passthrough"],
                         default_pool_id="pool-passthrough"),
            ListenerSpec(id="reencrypt", protocol="HTTP", protocol_port=ports["reencrypt"],
                         default_pool_id="pool-reencrypt"),
            ListenerSpec(id="reencrypt-wrong-ca", protocol="HTTP", protocol_port=ports["reencrypt-wrong-ca"],
                         default_pool_id="pool-wrong-ca"),
        ]
        pools = [
            _pool("pool-plain", plain),
            _pool("pool-passthrough", tls_member, protocol="HTTPS"),
            _pool("pool-reencrypt", tls_member, tls=PoolTlsSpec(
                ca_path=dp.write(s, "pool-ca.pem", member_pki.ca_pem()))),
            _pool("pool-wrong-ca", tls_member, tls=PoolTlsSpec(
                ca_path=dp.write(s, "pool-rogue-ca.pem", rogue_pki.ca_pem()))),
        ]
        dp.haproxy(listeners, pools, settings=s)
        yield Rig(vip=dp.vip, ports=ports, files=files, alice=alice)


def test_default_certificate_without_or_with_an_unknown_sni(rig: Rig) -> None:
    port = rig.ports["optional"]
    assert tls_handshake(rig.vip, port, rig.ctx())[0] == "lb.example"
    assert tls_handshake(rig.vip, port, rig.ctx(), sni="unknown.example")[0] == "lb.example"


def test_sni_picks_the_second_certificate(rig: Rig) -> None:
    assert tls_handshake(rig.vip, rig.ports["optional"], rig.ctx(), sni="sni.example")[0] == "sni.example"
    # The chain verifies against the listener's CA, and a request over it reaches the member.
    assert request(rig.url("optional"), tls=rig.ctx(), sni="sni.example").member == "m1"


def test_mandatory_client_authentication(rig: Rig) -> None:
    assert request(rig.url("mandatory"), tls=rig.ctx("alice")).member == "m1"
    with pytest.raises(httpx.TransportError):
        request(rig.url("mandatory"), tls=rig.ctx())  # no client certificate
    with pytest.raises(httpx.TransportError):
        request(rig.url("mandatory"), tls=rig.ctx("eve"))  # signed by another CA


def test_crl_revokes_a_client_certificate(rig: Rig) -> None:
    with pytest.raises(httpx.TransportError):
        request(rig.url("mandatory"), tls=rig.ctx("mallory"))
    # The same certificate is fine where no CRL is configured.
    assert request(rig.url("optional"), tls=rig.ctx("mallory")).status == 200


def test_optional_client_authentication_accepts_both(rig: Rig) -> None:
    without = request(rig.url("optional"), tls=rig.ctx())
    with_cert = request(rig.url("optional"), tls=rig.ctx("alice"))
    assert (without.status, with_cert.status) == (200, 200)
    assert without.seen_header("X-SSL-Client-Has-Cert") == ["0"]
    assert with_cert.seen_header("X-SSL-Client-Has-Cert") == ["1"]


def test_ssl_headers_describe_the_client_certificate(rig: Rig) -> None:
    reply = request(rig.url("mandatory"), tls=rig.ctx("alice"))
    seen = {h: reply.seen_header(h) for h in SSL_HEADERS}
    assert seen["X-Forwarded-Proto"] == ["https"]
    assert seen["X-SSL-Client-Verify"] == ["0"]
    assert seen["X-SSL-Client-Has-Cert"] == ["1"]
    # The rendered %{+Q} does not add quotes in header values (HAProxy 2.6): members get the bare strings.
    assert seen["X-SSL-Client-DN"] == ["/CN=alice.example"]
    assert seen["X-SSL-Client-CN"] == ["alice.example"]
    assert seen["X-SSL-Issuer"] == ["/CN=client CA"]
    assert seen["X-SSL-Client-SHA1"] == [rig.alice.sha1_hex]
    not_before = rig.alice.cert.not_valid_before_utc.strftime("%y%m%d%H%M%SZ")
    assert seen["X-SSL-Client-Not-Before"] == [not_before]
    assert len(seen["X-SSL-Client-Not-After"]) == 1


def test_tls_versions_refuse_an_older_client(rig: Rig) -> None:
    with pytest.raises(ssl.SSLError):
        tls_handshake(rig.vip, rig.ports["tls13"], rig.ctx(max_version=ssl.TLSVersion.TLSv1_2))
    assert tls_handshake(rig.vip, rig.ports["tls13"], rig.ctx())[2] == "TLSv1.3"
    # Where every version is allowed, the same TLSv1.2-only client gets in.
    assert tls_handshake(rig.vip, rig.ports["optional"], rig.ctx(max_version=ssl.TLSVersion.TLSv1_2))[2] == "TLSv1.2"


def test_alpn_negotiates_h2_and_haproxy_speaks_it(rig: Rig) -> None:
    ctx = rig.ctx("alice", alpn=["h2", "http/1.1"])
    assert tls_handshake(rig.vip, rig.ports["mandatory"], ctx)[1] == "h2"
    assert tls_handshake(rig.vip, rig.ports["mandatory"], rig.ctx("alice", alpn=["http/1.1"]))[1] == "http/1.1"
    # An HTTP/2 connection preface is answered with a SETTINGS frame (type 4 in the 9-byte frame header).
    with socket.create_connection((rig.vip, rig.ports["mandatory"]), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        frame = tls.recv(9)
    assert len(frame) == 9 and frame[3] == 4


def test_hsts_header_on_responses(rig: Rig) -> None:
    reply = request(rig.url("mandatory"), tls=rig.ctx("alice"))
    assert reply.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload;"
    assert "strict-transport-security" not in request(rig.url("optional"), tls=rig.ctx()).headers


def test_plain_http_on_the_tls_port_is_refused(rig: Rig) -> None:
    """As with Octavia's identical configuration, plain HTTP on a TLS-only bind fails the handshake: the
    rendered `redirect scheme https if !{ ssl_fc }` never fires (the frontend has no plain bind)."""
    with pytest.raises(httpx.TransportError):
        request(rig.url("optional", scheme="http"))


def test_https_passthrough_reaches_the_tls_member(rig: Rig) -> None:
    cn, _, _ = tls_handshake(rig.vip, rig.ports["passthrough"], client_tls_context())
    assert cn == "member.example"  # the member's own certificate: HAProxy did not terminate
    assert request(rig.url("passthrough")).member == "tm"


def test_pool_reencrypts_to_the_tls_member_and_verifies_it(rig: Rig) -> None:
    assert request(rig.url("reencrypt", scheme="http")).member == "tm"
    # A pool CA that did not sign the member's certificate fails verification: no server, 503.
    assert request(rig.url("reencrypt-wrong-ca", scheme="http")).status == 503
