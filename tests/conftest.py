from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from tests.support.diffusion import tiny_models  # noqa: F401  (a session fixture)
from tests.support.replicate import polled_replicate

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skipif(True, reason="needs DATABASE_URL on PostgreSQL"))
        item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))


def _xdist_group(item) -> str:
    """Under ``-n 2 --dist loadgroup`` (make test): the tests that start processes (clusters,
    servers, PostgreSQL restarts) run one at a time on one worker, since each takes the two cores'
    worth of processes it measures against; every other module stays whole on one worker, so its
    module-scoped fixtures are built once."""
    if "integration" in item.keywords:
        return "processes"
    return item.nodeid.split("::", 1)[0]


@pytest.fixture
def demo_plan() -> dict:
    return json.loads((EXAMPLES / "demo.json").read_text())


@pytest.fixture
def plan() -> list[dict]:
    """Two chains: scenes 1-2 continuous, 3-4 continuous."""
    return [
        {"prompt": "a red fox runs through snow", "duration": 1.0, "continuous": False},
        {"prompt": "the fox leaps over a log", "duration": 1.0, "continuous": True},
        {"prompt": "a quiet lake at dawn", "duration": 1.0, "continuous": False},
        {"prompt": "mist rises over the lake", "duration": 1.0, "continuous": True},
    ]


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ada", password="pw-ada-123")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="grace", password="pw-grace-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    from pipeline.providers import reset_providers

    reset_providers()
    yield settings.MEDIA_ROOT
    reset_providers()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's) for the whole run, started on first use."""
    from tests.support.s3 import MotoServer

    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh private bucket on that server."""
    from tests.support.s3 import new_bucket

    return new_bucket(s3_server)


@pytest.fixture
def s3_media(settings, s3_bucket, media_root):
    """Media on the bucket for tests in this process (MEDIA_ROOT stays, and must stay empty)."""
    settings.STORAGES = s3_bucket.storages
    return s3_bucket


@pytest.fixture
def no_task_failures():
    """Tasks run inline (sync mode) record errors instead of raising them: fail the test on any."""
    yield
    from django_q.models import Failure

    failures = list(Failure.objects.values_list("func", "result"))
    assert failures == [], f"tasks failed: {failures}"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def user_may_use_hosted_models(user):
    """``user`` holds the permission hosted (paid) models need: tests that spend loopback
    hosted-model money on the user's behalf ask for this."""
    user.user_permissions.add(Permission.objects.get(codename="use_hosted_models"))
    return user


@pytest.fixture
def server(settings, media_root):
    """The loopback Replicate double, polled (no webhook URL). Modules that need other switches
    define their own ``server``."""
    with polled_replicate(settings) as srv:
        yield srv
