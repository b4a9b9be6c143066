"""Test settings: django-q2 runs tasks inline (sync) — its Conf is read once at import, so
override_settings cannot switch it; integration tests start a real qcluster with normal settings.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("COHERENCE_VAR_DIR", tempfile.mkdtemp(prefix="coherence-test-"))

from coherence_project.settings import *  # noqa: F403
from coherence_project.settings import Q_CLUSTER, VAR_DIR

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
MEDIA_ROOT = Path(VAR_DIR) / "media"
# Small house format keeps rendered test videos cheap.
COHERENCE_VIDEO_WIDTH = 128
COHERENCE_VIDEO_HEIGHT = 72
COHERENCE_VIDEO_FPS = 12
COHERENCE_PROVIDER_BACKOFF_SECONDS = 0.01
COHERENCE_POLL_INTERVAL = 0.05
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
