"""One Django process per deployment that runs the ORM snippets ``Deployment.query`` sends it.

A fresh ``manage.py shell`` per query cost a Django start-up (about a CPU-second) at every poll of
``wait_for``: on two cores, that CPU was taken from the clusters under test. Each snippet still
runs as a fresh process would see the database: in its own namespace, on a new connection.

Protocol: one JSON string (the code) per line on stdin; one JSON object per line on stdout,
``{"result": ...}`` or ``{"error": "<traceback>"}``. What a snippet prints goes to stderr.
"""

from __future__ import annotations

import json
import sys
import traceback


def main() -> None:
    import django

    django.setup()
    from django.db import connections

    replies = sys.stdout
    sys.stdout = sys.stderr
    for line in sys.stdin:
        namespace: dict = {}
        try:
            exec("from generations.models import *\n" + json.loads(line), namespace)
            reply = json.dumps({"result": namespace["result"]}, default=str)
        except Exception:  # the caller raises it, with the traceback
            reply = json.dumps({"error": traceback.format_exc()})
        finally:
            connections.close_all()
        replies.write(reply + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
