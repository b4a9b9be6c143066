"""Roles and stored generations for the media cleanup tests (tests/support/roles.py)."""

from tests.support.roles import make_user, mine, roles, theirs, two_plan  # noqa: F401  (fixtures)
