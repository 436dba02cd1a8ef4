"""One error tree for the whole controller; each class carries its HTTP status.

    OstiaError (500)
    ├── InvalidInput (400)           type/shape errors: "Invalid input for field/attribute ..."
    ├── ValidationFailure (400)      semantic errors: "Validation failure: ..."
    ├── BadRequest (400)             any other 400 with a fixed message
    │   └── CertificateRetrievalError  "Could not retrieve certificate: [<refs>]"
    ├── NotAuthorized (403)          policy refusal
    ├── QuotaExceeded (403)
    ├── NotFound (404)
    ├── Conflict (409)
    │   ├── ImmutableObject          "<Resource> <id> is immutable and cannot be updated."
    │   └── InvalidState             "Invalid state <S> of loadbalancer resource <id>"
    ├── PayloadTooLarge (413)
    ├── ProviderNotSupported (501)
    │   └── ProviderUnsupportedOption  "... does not support a requested option: ..."
    └── ProjectBusy (503)

`api/faults.py` renders every one of them as Octavia's fault body.
"""

from __future__ import annotations


class OstiaError(Exception):
    status_code = 500
    message = "An unknown error occurred."

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.message
        super().__init__(self.message)


class BadRequest(OstiaError):
    status_code = 400


class InvalidInput(BadRequest):
    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")


class ValidationFailure(BadRequest):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Validation failure: {detail}")


class VipSubnetsNotOnOneNetwork(ValidationFailure):
    """Octavia's refusal of an additional VIP whose subnet is not on the primary VIP's network."""

    def __init__(self) -> None:
        super().__init__("All VIP subnets must belong to the same network.")


class InvalidOption(BadRequest):
    def __init__(self, value: object, option: str) -> None:
        super().__init__(f"{value} is not a valid option for {option}")


class CertificateRetrievalError(BadRequest):
    """A TLS container ref that does not resolve for the caller (unknown, another project's, unreadable).

    Octavia renders the list of bad refs with Python's list repr, e.g. "['ref1', 'ref2']".
    """

    def __init__(self, refs: list[str]) -> None:
        self.refs = list(refs)
        super().__init__(f"Could not retrieve certificate: {self.refs!r}")


class NotAuthorized(OstiaError):
    status_code = 403
    message = "Policy does not allow this request to be performed."


class QuotaExceeded(OstiaError):
    status_code = 403

    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota has been met for resources: {resource}")


class NotFound(OstiaError):
    status_code = 404

    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} not found.")


class Conflict(OstiaError):
    status_code = 409


class ImmutableObject(Conflict):
    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} is immutable and cannot be updated.")


class InvalidState(Conflict):
    def __init__(self, status: str, ident: object) -> None:
        super().__init__(f"Invalid state {status} of loadbalancer resource {ident}")


class InUse(Conflict):
    def __init__(self, resource: str, ident: object) -> None:
        super().__init__(f"{resource} {ident} is in use and cannot be modified.")


class PayloadTooLarge(OstiaError):
    status_code = 413
    message = "Request is too large."


class ProviderNotSupported(OstiaError):
    status_code = 501

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"Provider '{provider}' does not support a requested action/option: {detail}")


class ProviderUnsupportedOption(ProviderNotSupported):
    """Octavia's ProviderUnsupportedOptionError: what a driver raises for a feature it does not implement."""

    def __init__(self, provider: str, detail: str) -> None:
        OstiaError.__init__(self, f"Provider '{provider}' does not support a requested option: {detail}")


class ProviderNotFound(OstiaError):
    status_code = 501

    def __init__(self, provider: str) -> None:
        super().__init__(f"Provider '{provider}' was not found.")


class ProjectBusy(OstiaError):
    status_code = 503
    message = "Project busy.  Unable to lock the project.  Please try again."


class DriverError(OstiaError):
    """Raised by drivers inside flows; never reaches the API."""
