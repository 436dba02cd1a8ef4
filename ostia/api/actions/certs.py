"""TLS container refs given to listeners and pools must resolve for the caller (§3.7), checked at create and
update after the cross-field rules, as Octavia does. All unresolvable refs are reported in one 400."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509

from ostia.api.context import RequestContext
from ostia.api.services import ApiServices
from ostia.domain import errors
from ostia.domain.secrets import TlsBundle


def _project(ctx: RequestContext) -> str | None:
    # The caller's project owns the secrets it may use. A noauth caller without X-Project-Id has no project and
    # is an admin anyway: any secret resolves for it.
    return ctx.project_id


def _token(svc: ApiServices, ctx: RequestContext) -> str | None:
    # Only a token Keystone validated stands for the caller; noauth clients send X-Auth-Token "notused".
    return ctx.auth_token if svc.conf.api_settings.auth_strategy == "keystone" else None


def check_certificates(svc: ApiServices, ctx: RequestContext, refs: Iterable[str | None]) -> None:
    """Server (or pool client) certificates: each must resolve and carry its private key."""
    bad: list[str] = []
    for ref in refs:
        if not ref:
            continue
        bundle = _fetch(svc, ctx, ref, bad)
        if bundle is None:
            continue
        if not bundle.certificate or not bundle.private_key:
            bad.append(ref)  # a CA or CRL container cannot serve TLS
    if bad:
        raise errors.CertificateRetrievalError(bad)


def check_ca_and_crl(svc: ApiServices, ctx: RequestContext, ca_ref: str | None, crl_ref: str | None) -> None:
    """A client CA (and optional CRL) ref: both resolve, the CA is a certificate, the CRL is signed by it."""
    if not ca_ref:
        return
    bad: list[str] = []
    ca = _fetch(svc, ctx, ca_ref, bad)
    crl = _fetch(svc, ctx, crl_ref, bad) if crl_ref else None
    if bad:
        raise errors.CertificateRetrievalError(bad)
    assert ca is not None
    try:
        ca_cert = x509.load_pem_x509_certificate(ca.ca_pem())
    except ValueError as exc:
        raise errors.ValidationFailure(f"The client authentication CA certificate is invalid. It must be a valid "
                                       f"x509 PEM format certificate. Error: {exc}") from None
    if crl is None:
        return
    try:
        revocations = x509.load_pem_x509_crl(crl.crl_pem())
    except ValueError as exc:
        raise errors.ValidationFailure(f"The client authentication certificate revocation list is invalid. It "
                                       f"must be a valid x509 PEM format certificate revocation list. Error: "
                                       f"{exc}") from None
    if not revocations.is_signature_valid(ca_cert.public_key()):  # type: ignore[arg-type]
        raise errors.ValidationFailure("The CRL specified is not valid for client certificate authority "
                                       "reference supplied.")


def _fetch(svc: ApiServices, ctx: RequestContext, ref: str, bad: list[str]) -> TlsBundle | None:
    """As Octavia: first share the ref with the controller using the caller's token, then read it as the
    controller will (a Barbican ref the caller's project may not read fails the first step)."""
    try:
        svc.cert_manager.grant_access(ref, _project(ctx), _token(svc, ctx))
        return svc.cert_manager.get(ref, _project(ctx))
    except errors.CertificateRetrievalError:
        bad.append(ref)
        return None
