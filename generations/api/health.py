"""Is the service able to take work? The database and the task broker must both answer."""

from __future__ import annotations

import re

from django.db import DatabaseError, connection
from django_q.brokers import get_broker

OK = "ok"
# "redis://user:secret@host" -> "redis://user:***@host": details go to staff, secrets to no one.
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def masked(text: str) -> str:
    return URL_PASSWORD.sub(r"\g<scheme>***@", text)


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return masked(f"unreachable: {exc}")
    return OK


def broker_status() -> str:
    try:
        broker = get_broker()
        if not broker.ping():
            return masked(f"unreachable: {broker.info()} did not answer")
        # The ORM broker's ping is always true; counting its queue proves the table answers.
        broker.queue_size()
    except Exception as exc:  # a health check reports every failure instead of raising it
        return masked(f"unreachable: {exc}")
    return OK


def system_health() -> dict[str, str]:
    checks = {"database": database_status(), "broker": broker_status()}
    healthy = all(value == OK for value in checks.values())
    return {"status": "ok" if healthy else "fail", **checks}
