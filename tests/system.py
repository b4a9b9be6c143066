"""System programs some tests drive for real (Debian's redis-server and chromium).

`.ci/run` installs them. On a developer machine without them those tests are skipped with the
package to install, so `make test` still works on a fresh machine; under CI (CI set) a missing
program is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_program(name: str, *, package: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed: apt-get update && apt-get install -y {package}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run installs it)")
    pytest.skip(message)
