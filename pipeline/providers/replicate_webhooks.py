"""Replicate webhook signatures (the Standard Webhooks scheme), verified and produced.

Verification goes through the official client's ``replicate.webhook.Webhooks.validate`` so we
check exactly what Replicate signs: ``"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256
keyed by the base64 part of the ``whsec_...`` secret. ``sign_webhook`` is the other side, used by
the loopback server and the tests. Idempotency on ``webhook-id`` (a delivery may arrive more
than once) is the caller's job: it needs the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from replicate.webhook import (
    InvalidSecretKeyError,
    InvalidSignatureError,
    InvalidTimestampError,
    MissingWebhookBodyError,
    MissingWebhookHeaderError,
    Webhooks,
    WebhookSigningSecret,
)

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookRejected(Exception):
    """A webhook request we refuse; ``status_code`` is what the view should answer."""

    def __init__(self, message: str, status_code: int):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def generate_webhook_secret() -> str:
    """A fresh secret in Replicate's ``whsec_<base64>`` format (loopback server, tests)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    parts = secret.split("_")
    if len(parts) != 2 or not parts[1]:
        raise ValueError("webhook secret must look like whsec_<base64>")
    try:
        return base64.b64decode(parts[1], validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook secret must look like whsec_<base64>") from exc


SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def sign_webhook(
    *, secret: str, webhook_id: str, timestamp: int, body: bytes | str
) -> dict[str, str]:
    """The Standard Webhooks headers Replicate sends with ``body``."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    digest = hmac.new(
        _secret_key(secret), f"{webhook_id}.{timestamp}.{text}".encode(), hashlib.sha256
    ).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }


def verify_replicate_webhook(
    *,
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """Check a webhook's signature and freshness and return the decoded prediction JSON.

    Raises ``WebhookRejected`` with 400 for missing headers/body, a malformed or stale timestamp
    (older or newer than ``tolerance`` seconds: a replayed delivery) or a body that is not JSON,
    401 for a wrong signature, and 500 when our own secret is missing or malformed — a 5xx makes
    Replicate retry the delivery, which is what we want while the configuration gets fixed.
    """
    _check_secret(secret)
    lowered, text = _readable_delivery(headers, body)
    _check_signature(lowered, text, secret, tolerance)
    return _prediction_json(text)


def _check_secret(secret: str) -> None:
    if not secret:
        raise WebhookRejected("REPLICATE_WEBHOOK_SECRET is not configured", 500)
    try:
        _secret_key(secret)
    except ValueError as exc:
        raise WebhookRejected(f"REPLICATE_WEBHOOK_SECRET is malformed: {exc}", 500) from exc


def _readable_delivery(headers: Mapping[str, str], body: bytes) -> tuple[dict[str, str], str]:
    """The headers (lower-cased) and the body as text, or a 400 saying what is missing."""
    lowered = {key.lower(): value for key, value in headers.items()}
    missing = [name for name in SIGNATURE_HEADERS if not lowered.get(name)]
    if missing:
        raise WebhookRejected(f"missing webhook header(s): {', '.join(missing)}", 400)
    if not body:
        raise WebhookRejected("missing webhook body", 400)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRejected("webhook body is not UTF-8", 400) from exc
    if not lowered["webhook-timestamp"].strip().isdigit():
        raise WebhookRejected("webhook timestamp is not an integer", 400)
    return lowered, text


# What each error of the Standard Webhooks validator means for the sender.
_VALIDATION_ERRORS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], str, int], ...] = (
    ((MissingWebhookHeaderError, MissingWebhookBodyError), "", 400),
    (InvalidTimestampError, "stale webhook: ", 400),
    (InvalidSecretKeyError, "REPLICATE_WEBHOOK_SECRET is malformed: ", 500),
    (InvalidSignatureError, "bad webhook signature: ", 401),
    # A signature that is not base64 trips the decoder inside validate(): still a bad signature.
    ((binascii.Error, ValueError), "bad webhook signature: ", 401),
)


def _check_signature(lowered: dict[str, str], text: str, secret: str, tolerance: int) -> None:
    try:
        Webhooks.validate(
            headers=lowered,
            body=text,
            secret=WebhookSigningSecret(key=secret),
            tolerance=tolerance,
        )
    except Exception as exc:
        for kinds, prefix, status in _VALIDATION_ERRORS:
            if isinstance(exc, kinds):
                raise WebhookRejected(f"{prefix}{exc}", status) from exc
        raise


def _prediction_json(text: str) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WebhookRejected("webhook body is not JSON", 400) from exc
    if not isinstance(payload, dict):
        raise WebhookRejected("webhook body is not a JSON object", 400)
    return payload
