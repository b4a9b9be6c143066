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


def require_module(name: str, *, extra: str) -> None:
    """Skip (or, under CI, fail) unless the Python module ``name`` imports: it comes with the
    project's ``[extra]`` optional dependencies."""
    import importlib.util

    if importlib.util.find_spec(name) is not None:
        return
    message = f"{name} is not installed: pip install -e '.[{extra}]'"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (.ci/run installs it)")
    pytest.skip(message)
