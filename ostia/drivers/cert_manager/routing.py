"""`RoutingCertManager`: local refs and refs of an external key manager side by side.

With `[certificates] cert_manager = barbican_cert_manager` an operator's `ostia://secrets/...` refs (from
`ostia secret create`) must keep working, so the ref's form picks the store: our scheme goes to the local table,
anything else (a Barbican URL, or garbage) to Barbican, which refuses what it does not know.
"""

from __future__ import annotations

from ostia.domain.secrets import CertManager, TlsBundle
from ostia.drivers.cert_manager.local import REF_PREFIX


class RoutingCertManager:
    def __init__(self, local: CertManager, external: CertManager) -> None:
        self.local = local
        self.external = external

    def _for(self, ref: str) -> CertManager:
        return self.local if ref.startswith(REF_PREFIX) else self.external

    def get(self, ref: str, project_id: str | None) -> TlsBundle:
        return self._for(ref).get(ref, project_id)

    def get_crl(self, ref: str, project_id: str | None) -> bytes:
        return self._for(ref).get_crl(ref, project_id)

    def grant_access(self, ref: str, project_id: str | None, auth_token: str | None) -> None:
        self._for(ref).grant_access(ref, project_id, auth_token)

    def close(self) -> None:
        for store in (self.local, self.external):
            close = getattr(store, "close", None)
            if close is not None:
                close()
