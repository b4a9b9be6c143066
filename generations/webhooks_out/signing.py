"""Each user's webhook signing secret: made, rotated, kept encrypted, and used to sign.

Signing needs the secret itself (the consumer checks an HMAC keyed by it), so it cannot be stored
as a hash the way a password is. It is stored encrypted with Fernet (AES-128-CBC + HMAC-SHA256)
under a key derived from ``DJANGO_SECRET_KEY``: a database dump or backup alone does not reveal
it. Old keys in ``SECRET_KEY_FALLBACKS`` still decrypt, so the Django key can be rotated the way
Django documents; a secret encrypted under a key no longer configured cannot be read, and its
owner rotates it. The plaintext is returned once, by ``rotate_secret``, and never shown again.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from generations.models import ConsumerWebhookSecret
from pipeline.providers.replicate_webhooks import generate_webhook_secret, sign_webhook

_KEY_PURPOSE = "coherence.webhooks_out.signing-secret"


def _fernet_for(django_key: str) -> Fernet:
    digest = salted_hmac(_KEY_PURPOSE, "fernet", secret=django_key, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _cipher() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet_for(key) for key in keys])


def rotate_secret(*, user: Any) -> str:
    """Give ``user`` a new signing secret (``whsec_<base64 of 32 random bytes>``) and return it:
    the only time it is shown. Deliveries from now on, retries included, are signed with it."""
    secret = generate_webhook_secret()
    encrypted = _cipher().encrypt(secret.encode("ascii")).decode("ascii")
    with transaction.atomic():
        ConsumerWebhookSecret.objects.update_or_create(
            owner=user, defaults={"encrypted": encrypted, "created_at": timezone.now()}
        )
    return secret


def has_secret(*, user: Any) -> bool:
    return ConsumerWebhookSecret.objects.filter(owner=user).exists()


def secret_of(*, user_id: int | None) -> str | None:
    """The user's signing secret, or None (no user, no secret, or one the configured keys cannot
    decrypt)."""
    if user_id is None:
        return None
    row = ConsumerWebhookSecret.objects.filter(owner_id=user_id).first()
    if row is None:
        return None
    try:
        return _cipher().decrypt(row.encrypted.encode("ascii")).decode("ascii")
    except InvalidToken:
        return None


def signed_headers(*, secret: str, webhook_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``)."""
    return sign_webhook(secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body)
