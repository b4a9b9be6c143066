"""Roles for the security tests (tests/support/roles.py): an owner, another user, staff with each
permission, a superuser, and generations with real files in the media storage; one test renders for
real. Throttle counts start clean in every database test.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.support.api import fresh_cache  # noqa: F401  (autouse below)
from tests.support.roles import (  # noqa: F401  (fixtures)
    clients,
    make_user,
    mine,
    roles,
    theirs,
    two_plan,
)


@pytest.fixture(autouse=True)
def clean_cache(fresh_cache):  # noqa: F811
    """Every security test starts and ends with no throttle counts."""


@pytest.fixture
def api(clients) -> APIClient:  # noqa: F811
    return clients["owner"]


@pytest.fixture
def other_api(clients) -> APIClient:  # noqa: F811
    return clients["other"]
