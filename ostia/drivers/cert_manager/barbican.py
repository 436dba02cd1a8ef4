"""`BarbicanCertManager` (`[certificates] cert_manager = barbican_cert_manager`): TLS refs from an OpenStack cloud.

A ref is either a Barbican secret (Octavia's PKCS#12 bundle, or a PEM CA / CRL) or a certificate container
(`certificate`, `private_key`, `intermediates`, `private_key_passphrase`). As Octavia does with its
`barbican_acl` auth, the API first adds the controller's service user to the read ACL of the ref (and of every
secret in a container) *with the caller's token* — which fails unless the caller may manage that secret — and
then everyone, API and worker, reads with the service user's own credentials from `[service_auth]`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from barbicanclient import client as barbican_client
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from oslo_config import cfg

from ostia.domain.errors import CertificateRetrievalError
from ostia.domain.secrets import TlsBundle, crl_of, join_pem
from ostia.drivers.cert_manager import bundle

LOG = logging.getLogger(__name__)
AUTH_GROUP = "service_auth"
# Secret names inside a certificate container, in the order they make one PEM file for `bundle.load`.
_PEM_PARTS = ("certificate", "intermediates", "private_key")


def register_opts(conf: cfg.ConfigOpts) -> None:
    """[service_auth]: keystoneauth's own options (auth_type and the plugin's, e.g. password's)."""
    ks_loading.register_auth_conf_options(conf, AUTH_GROUP)
    ks_loading.register_session_conf_options(conf, AUTH_GROUP)


def _text(payload: Any) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def _is_container(ref: str) -> bool:
    return "/containers/" in ref


class BarbicanCertManager:
    def __init__(self, conf: cfg.ConfigOpts, timeout: float = 30) -> None:
        register_opts(conf)
        self._auth: Any = ks_loading.load_auth_from_conf_options(conf, AUTH_GROUP)
        self._session = ks_loading.load_session_from_conf_options(conf, AUTH_GROUP, auth=self._auth)
        self._session.timeout = timeout
        self._timeout = timeout
        self._endpoint = {"region_name": conf.certificates.region_name,
                          "interface": conf.certificates.endpoint_type}
        self._service: Any = None
        self._lock = threading.Lock()

    def _service_client(self) -> Any:
        with self._lock:
            if self._service is None:
                self._service = barbican_client.Client(session=self._session, **self._endpoint)
            return self._service

    def service_user_id(self) -> str:
        """The user the controller reads as: the one the API adds to each ref's read ACL."""
        return str(self._session.get_user_id())

    def _user_client(self, project_id: str | None, auth_token: str) -> Any:
        auth = v3.Token(auth_url=self._auth.auth_url, token=auth_token, project_id=project_id)
        return barbican_client.Client(session=ks_session.Session(auth=auth, timeout=self._timeout),
                                      **self._endpoint)

    # -- the CertManager protocol

    def grant_access(self, ref: str, project_id: str | None, auth_token: str | None) -> None:
        if not auth_token:
            # noauth mode: no caller identity to act for; the service user's own rights decide in `get`.
            return
        try:
            user = self._user_client(project_id, auth_token)
            service_user = self.service_user_id()
            refs = [ref]
            if _is_container(ref):
                refs += [s.secret_ref for s in user.containers.get(ref).secrets.values()]
            for one in refs:
                acl = user.acls.get(one)
                readers = acl.get("read")
                users = list(readers.users or []) if readers else []
                if service_user not in users:
                    acl.add_operation_acl(operation_type="read", users=[*users, service_user],
                                          project_access=readers.project_access if readers else None)
                    acl.submit()
        except Exception as exc:  # any refusal or failure of Keystone/Barbican means "not retrievable" (400)
            LOG.info("certificate ref %s: cannot grant read access: %s", ref, type(exc).__name__)
            raise CertificateRetrievalError([ref]) from None

    def get(self, ref: str, project_id: str | None) -> TlsBundle:
        try:
            return self._load(ref)
        except CertificateRetrievalError:
            raise
        except Exception as exc:  # unknown ref, no ACL, Barbican down, unreadable PKCS#12: all a 400 for the API
            LOG.info("certificate ref %s: cannot read it: %s", ref, type(exc).__name__)
            raise CertificateRetrievalError([ref]) from None

    def get_crl(self, ref: str, project_id: str | None) -> bytes:
        return crl_of(self.get(ref, project_id), ref)

    def _load(self, ref: str) -> TlsBundle:
        client = self._service_client()
        if not _is_container(ref):
            # Octavia's own format: one PKCS#12 secret without passphrase; a CA or CRL secret is PEM text.
            return bundle.load(_text(client.secrets.get(secret_ref=ref).payload))
        secrets = client.containers.get(container_ref=ref).secrets
        pem = join_pem(*(_text(secrets[name].payload) for name in _PEM_PARTS if name in secrets))
        passphrase = secrets.get("private_key_passphrase")
        return bundle.load(pem, _text(passphrase.payload) if passphrase is not None else None)

    def close(self) -> None:
        self._session.session.close()
