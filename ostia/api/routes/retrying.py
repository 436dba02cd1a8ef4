"""The route class of every API router: an endpoint whose transaction lost a deadlock runs again."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from ostia.db.retry import retry_on_deadlock


class RetryingRoute(APIRoute):
    """Endpoints are synchronous and commit their transaction before dispatching a job, so a deadlock victim
    has changed nothing yet and is run again (ostia.db.retry) instead of answering 500."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, retry_on_deadlock(endpoint), **kwargs)
