"""Request ids, and a log line for every server error.

Each request gets an id: the proxy's ``X-Request-ID`` when it is a sane token, else a new one. The
response carries it back in ``X-Request-ID`` and the 500 page shows it, so a user's report finds
the log line: ``method path user=<id> request_id=<id>`` with the traceback. Without this a 500
with DEBUG off is logged nowhere (Django's own console handler only logs when DEBUG is on).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger("coherence.requests")

HEADER = "X-Request-ID"
# What we accept from a proxy: short, and nothing that could forge a log line or break a header.
INCOMING_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get(HEADER, "")
    return incoming if INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex


def user_id(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    return str(user.pk) if getattr(user, "is_authenticated", False) else "-"


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id_for(request)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        if response.status_code >= 500 and not getattr(request, "_error_logged", False):
            # A 5xx answered without an exception (e.g. a view returning 500 or 503).
            log = logger.error if response.status_code == 500 else logger.warning
            log(self._describe(request, f"answered {response.status_code}"))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # Called for exceptions no view handled (Django turns them into the 500 page).
        request._error_logged = True
        logger.error(self._describe(request, "server error"), exc_info=exception)

    @staticmethod
    def _describe(request: HttpRequest, what: str) -> str:
        return (
            f"{what}: {request.method} {request.path!r} user={user_id(request)} "
            f"request_id={request.request_id}"
        )
