"""TLS option types that listeners and pools validate alike (§2.2, §2.3)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from ostia.api.schemas.types import _only_str
from ostia.domain import tls


def _alpn(value: str) -> str:
    if value not in tls.ALPN_PROTOCOLS:
        raise ValueError("Value should be one of: " + ", ".join(tls.ALPN_PROTOCOLS))
    return value


# Cipher strings end up in HAProxy's configuration: only OpenSSL cipher-list characters are allowed.
Ciphers = Annotated[str, BeforeValidator(_only_str), Field(max_length=2048, pattern=tls.CIPHER_PATTERN)]
TlsVersion = Annotated[str, BeforeValidator(_only_str), Field(max_length=32)]
Alpn = Annotated[str, BeforeValidator(_only_str), AfterValidator(_alpn)]
