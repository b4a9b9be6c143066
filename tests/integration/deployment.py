"""A throwaway deployment for integration tests: its own database, media dir and real qcluster
processes, driven through manage.py exactly as an operator would."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[2]


class Deployment:
    def __init__(self, var_dir: Path, **env: str) -> None:
        self.var_dir = var_dir
        var_dir.mkdir(parents=True, exist_ok=True)
        self.clusters: list[subprocess.Popen] = []
        self._pg_admin_url: str | None = None
        self._pg_name: str | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "coherence_project.settings",
            "COHERENCE_VAR_DIR": str(var_dir),
            "MEDIA_ROOT": str(var_dir / "media"),
            "COHERENCE_VIDEO_WIDTH": "128",
            "COHERENCE_VIDEO_HEIGHT": "72",
            "COHERENCE_VIDEO_FPS": "12",
            "Q_POLL": "0.05",
            "Q_WORKERS": "2",
            # Short, so a task held by a SIGKILLed worker comes back quickly (timeout < retry).
            "Q_TIMEOUT": "20",
            "Q_RETRY": "25",
            # DEBUG is off: settings.py refuses to start without a key. One per deployment, shared
            # by its web and cluster processes (django-q2 signs its tasks with it).
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            **env,
        }
        database_url = self.env.get("DATABASE_URL", "")
        if database_url.startswith("postgres"):
            self._create_postgres_database(database_url)

    # --- database ---------------------------------------------------------------------------------
    def _create_postgres_database(self, url: str) -> None:
        import psycopg

        parsed = urlparse(url)
        self._pg_name = f"coherence_it_{uuid.uuid4().hex[:10]}"
        self._pg_admin_url = url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self._pg_name}"')
        self.env["DATABASE_URL"] = urlunparse(parsed._replace(path=f"/{self._pg_name}"))

    def _drop_postgres_database(self) -> None:
        import psycopg

        if not (self._pg_admin_url and self._pg_name):
            return
        with psycopg.connect(self._pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')

    # --- commands ---------------------------------------------------------------------------------
    def manage(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def query(self, code: str) -> Any:
        """Run ORM code in a fresh process of the deployment; ``code`` sets ``result``."""
        script = (
            "import json\nfrom generations.models import *\n"
            f"{code}\nprint('@@' + json.dumps(result, default=str))"
        )
        out = self.manage("shell", "-c", script)
        return json.loads(out.rsplit("@@", 1)[1])

    def migrate(self) -> None:
        self.manage("migrate", "--noinput")

    # --- media ----------------------------------------------------------------------------------
    @property
    def media_root(self) -> Path:
        return Path(self.env["MEDIA_ROOT"])

    @property
    def scratch_dir(self) -> Path:
        """The local model's scratch space (COHERENCE_LOCAL_SCRATCH_DIR's default)."""
        return self.var_dir / "local-predictions"

    def fetch_media(self, name: str, dest: Path) -> Path:
        """Copy a stored file (filesystem or bucket) to ``dest`` through the storage API."""
        self.query(
            "from django.core.files.storage import default_storage\n"
            f"with default_storage.open({name!r}, 'rb') as f:\n"
            f"    open({str(dest)!r}, 'wb').write(f.read())\n"
            "result = True"
        )
        return dest

    # --- clusters ---------------------------------------------------------------------------------
    def start_cluster(self) -> subprocess.Popen:
        return self._start("qcluster")

    def start_workers(self) -> subprocess.Popen:
        """``manage.py workers``: the qcluster under the supervisor that stops it at any signal."""
        return self._start("workers")

    def start_ticker(self) -> subprocess.Popen:
        """The ticker (manage.py ticker): poller passes and frequent reconciles."""
        return self._start("ticker")

    def _start(self, command: str) -> subprocess.Popen:
        log = open(self.var_dir / f"{command}-{len(self.clusters)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), command],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so SIGKILL takes its workers too
        )
        self.clusters.append(process)
        return process

    def kill_cluster(
        self, process: subprocess.Popen, sig: int = signal.SIGKILL, grace: float = 10
    ) -> None:
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=grace)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            # A graceful stop waits for busy workers; the test is over, so do not wait.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.clusters:
            if process.poll() is None:
                self.kill_cluster(process, signal.SIGTERM, grace=3)
        self._drop_postgres_database()

    def wait_for(self, code: str, *, timeout: float, interval: float = 0.5) -> Any:
        """Poll ``code`` until its ``result`` is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.query(code)
            if value:
                return value
            if time.monotonic() > deadline:
                logs = "".join(p.read_text()[-2000:] for p in sorted(self.var_dir.glob("*-*.log")))
                raise AssertionError(f"timed out waiting for: {code}\ncluster logs:\n{logs}")
            time.sleep(interval)


def assert_rendered_once(deployment, predictions: list[str]) -> None:
    """Each scene has its own prediction, and no other prediction was made: the local model's
    scratch is removed when its scene stores the outputs, so a second submission of a scene (or
    any prediction no scene took) would have left its scratch behind."""
    assert all(predictions) and len(set(predictions)) == len(predictions), predictions
    assert sorted(p.parent.name for p in deployment.scratch_dir.glob("*/prediction.json")) == []
