"""The certificate-manager interface lives in the domain (the API and worker call it); re-exported here so the
driver family looks like the others."""

from ostia.domain.secrets import CertificateRetrievalError, CertManager, TlsBundle

__all__ = ["CertManager", "CertificateRetrievalError", "TlsBundle"]
