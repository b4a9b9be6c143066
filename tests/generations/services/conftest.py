"""API clients for the limit tests: the owner and another user, with throttle counts that start
clean."""

from __future__ import annotations

import pytest

from tests.support.api import api, fresh_cache, other_api, other_user  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def clean_cache(fresh_cache):  # noqa: F811
    """Every test starts and ends with no throttle counts."""
