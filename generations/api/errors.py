"""One error shape for the whole API, and the mapping of the services' errors onto it.

Every error body is ``{"detail": "<one readable line>"}``; a 400 for invalid input adds
``"errors": {"<field path>": ["<message>", ...]}`` where the path is dotted like the services'
keys (``scenes.2.duration``, ``coherence_settings.seed_mode``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.utils.html import format_html
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from generations.services.limits import ActiveLimitReached

INVALID_INPUT = "Invalid input."


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in one line.")


class ValidationErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text='"Invalid input." or the parser\'s message.')
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per field, keyed by dotted path, e.g. `scenes.2.duration`. Absent "
        "when the body could not be parsed at all (malformed JSON).",
    )


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → ``{"a.0.b": ["message", ...]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            if item:
                flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or api_settings.NON_FIELD_ERRORS_KEY: [str(m) for m in messages]}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE; say so in JSON.
        exc = PayloadTooLarge(
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        )
    elif isinstance(exc, ActiveLimitReached):
        # Too much work in flight, not bad input: 429, like the throttle (no Retry-After: the
        # wait depends on the caller's running generations, not on a clock).
        exc = exceptions.Throttled(detail=exc.detail)
    elif isinstance(exc, DjangoValidationError):
        # The services raise Django's ValidationError with dotted field keys: a 400, not a 500.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": INVALID_INPUT, "errors": flatten_errors(exc.detail)}
    elif not (isinstance(response.data, dict) and set(response.data) == {"detail"}):
        response.data = {"detail": str(response.data)}
    return response


class ApiErrorsMixin:
    """Views of this API answer every error in the documented shape."""

    def get_exception_handler(self):
        return api_exception_handler


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


BAD_REQUEST = OpenApiResponse(
    ValidationErrorSerializer,
    description="Invalid input: malformed JSON, a body that is not an object, or field errors "
    "keyed by dotted path. Nothing was stored.",
)
UNAUTHENTICATED = error(
    "No or invalid credentials. Send `Authorization: Token <key>` (or a session cookie)."
)
FORBIDDEN = error(
    "You may see this generation but not do this to it (another user's generation needs the "
    "matching permission: change_generation to cancel or regenerate, delete_generation to delete), "
    "or your account may not use the hosted provider it runs on; or a session (cookie) request "
    "came without its CSRF token."
)
CSRF_FAILED = error("A session (cookie) request came without its CSRF token (a token needs none).")
NOT_FOUND = error("No such generation among yours (another user's generation is also a 404).")
THROTTLED = error(
    "Too many generations created (`Retry-After` says when to try again), or too many of yours "
    "are unfinished (COHERENCE_MAX_ACTIVE_PER_USER): wait for one to finish, or cancel one."
)
NOT_JSON = error("The body must be `application/json`.")
TOO_LARGE = error(
    "The request body is larger than the server takes (`DATA_UPLOAD_MAX_MEMORY_SIZE`, 15 MiB by "
    "default). Nothing was stored."
)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Django's handler500: one line and the request id (the log has the rest), never a trace or
    a path. The API answers in its JSON shape."""
    request_id = getattr(request, "request_id", "")
    detail = "Server error; it has been logged."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": detail, "request_id": request_id}, status=500)
    return HttpResponseServerError(
        format_html(
            "<!doctype html><title>Server error</title><h1>Server error</h1>"
            "<p>{} Request id: <code>{}</code></p>",
            detail,
            request_id,
        ),
        content_type="text/html",
    )
