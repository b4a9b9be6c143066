"""Test settings: django-q2 runs tasks inline (sync) — its Conf is read once at import, so
override_settings cannot switch it; integration tests start a real qcluster with normal settings.
"""

import os
import secrets
import tempfile
from pathlib import Path

os.environ.setdefault("COHERENCE_VAR_DIR", tempfile.mkdtemp(prefix="coherence-test-"))
# settings.py refuses to start with DEBUG off and no key; tests get a throwaway one.
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-" + secrets.token_urlsafe(40))

from coherence_project.settings import *  # noqa: F403
from coherence_project.settings import ALLOWED_HOSTS, COHERENCE, Q_CLUSTER, VAR_DIR

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
# Django's test client sends Host: testserver; only test settings accept it.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
MEDIA_ROOT = Path(VAR_DIR) / "media"
COHERENCE = {
    **COHERENCE,
    # Small house format keeps rendered test videos cheap.
    "VIDEO_WIDTH": 128,
    "VIDEO_HEIGHT": 72,
    "VIDEO_FPS": 12,
    "PROVIDER_BACKOFF_SECONDS": 0.01,
    "POLL_INTERVAL": 0.05,
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
