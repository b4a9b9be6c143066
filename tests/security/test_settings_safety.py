"""Safe settings: no start without a real key when DEBUG is off, `check --deploy` clean with the
production environment documented in docs/operations.md, `testserver` only in test settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
BUILT_IN_KEY = "coherence-insecure-development-key-change-me"
REFUSAL = "Refusing to start with DEBUG off: set DJANGO_SECRET_KEY to your own secret."


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "COHERENCE_", "PYTEST"))
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**clean, "DJANGO_SETTINGS_MODULE": "coherence_project.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def documented_production_env() -> dict[str, str]:
    """The sh block under "Production environment" in docs/operations.md."""
    text = OPERATIONS.read_text()
    block = text.split("### Production environment", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return dict(line.split("=", 1) for line in block.strip().splitlines())


@pytest.mark.parametrize("key", [None, "", BUILT_IN_KEY])
def test_with_debug_off_a_missing_or_built_in_key_refuses_to_start_in_one_line(tmp_path, key):
    env = {"COHERENCE_VAR_DIR": str(tmp_path)}
    if key is not None:
        env["DJANGO_SECRET_KEY"] = key
    result = manage("check", **env)
    assert result.returncode != 0
    assert result.stderr.strip() == REFUSAL  # one readable line, no traceback
    assert BUILT_IN_KEY not in result.stdout + result.stderr


def test_with_debug_on_the_development_key_is_allowed(tmp_path):
    result = manage("check", DJANGO_DEBUG="true", COHERENCE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    env = documented_production_env()
    env["DJANGO_SECRET_KEY"] = "k3y-" + "x7Qp" * 15  # the doc shows a placeholder
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", COHERENCE_VAR_DIR=str(tmp_path), **env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_production_environment_turns_every_protection_on():
    env = documented_production_env()
    assert env["DJANGO_SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO,https"
    assert env["DJANGO_SECURE_COOKIES"] == "true"
    assert int(env["DJANGO_SECURE_HSTS_SECONDS"]) >= 31536000
    assert env["DJANGO_CSRF_TRUSTED_ORIGINS"].startswith("https://")


def test_testserver_is_only_allowed_by_the_test_settings(tmp_path, settings):
    script = "from django.conf import settings; print(settings.ALLOWED_HOSTS)"
    result = manage(
        "shell", "-c", script, DJANGO_SECRET_KEY="s" * 60, COHERENCE_VAR_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "testserver" not in result.stdout
    assert "testserver" in settings.ALLOWED_HOSTS


def test_settings_read_the_proxy_header_and_cookies_from_the_environment(tmp_path):
    script = (
        "from django.conf import settings as s; "
        "print(s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.CSRF_TRUSTED_ORIGINS)"
    )
    result = manage(
        "shell",
        "-c",
        script,
        DJANGO_SECRET_KEY="s" * 60,
        COHERENCE_VAR_DIR=str(tmp_path),
        DJANGO_SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        DJANGO_SECURE_COOKIES="true",
        DJANGO_SECURE_HSTS_SECONDS="600",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://a.example,https://b.example",
    )
    assert result.stdout.strip().splitlines()[-1] == (
        "('HTTP_X_FORWARDED_PROTO', 'https') True True 600 "
        "['https://a.example', 'https://b.example']"
    )


def test_the_operations_doc_carries_no_real_looking_key():
    assert not re.search(r"DJANGO_SECRET_KEY=[A-Za-z0-9_-]{40,}", OPERATIONS.read_text())
