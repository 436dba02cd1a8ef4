"""The one error the agent's helpers raise; app.py renders it as Octavia's agent does: {"message", "details"}."""

from __future__ import annotations


class AgentError(Exception):
    def __init__(self, status: int, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body
