"""A throwaway deployment: its own database, media dir and real qcluster processes, driven through
manage.py exactly as an operator would. The benches measure one; the integration tests
(tests/integration) drive one too."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]


class Deployment:
    def __init__(self, var_dir: Path, **env: str) -> None:
        self.var_dir = var_dir
        var_dir.mkdir(parents=True, exist_ok=True)
        self.clusters: list[subprocess.Popen] = []
        self._queries: _QueryProcess | None = None
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

    def query(self, code: str, *, fresh: bool = False) -> Any:
        """Run ORM code in a process of the deployment (its own namespace, a new connection);
        ``code`` sets ``result``. One process serves the queries while the environment holds;
        ``fresh=True`` runs a ``manage.py shell`` of its own: for code that patches modules, or
        that runs beside another query at the same time."""
        if fresh:
            script = (
                "import json\nfrom generations.models import *\n"
                f"{code}\nprint('@@' + json.dumps(result, default=str))"
            )
            return json.loads(self.manage("shell", "-c", script).rsplit("@@", 1)[1])
        if self._queries is None or not self._queries.serves(self.env):
            if self._queries is not None:
                self._queries.stop()
            self._queries = _QueryProcess(dict(self.env), self.var_dir / "queries.log")
        return self._queries.ask(code, timeout=300)

    def migrate(self) -> None:
        """The database as ``manage.py migrate`` leaves it: migrated once per test session into a
        template (per database server and cache kind: the cache table is the database's unless
        REDIS_URL is set), then copied, a file on SQLite and ``CREATE DATABASE ... TEMPLATE`` on
        PostgreSQL. A migrate per test cost 3-8 s."""
        key = (self._pg_admin_url or "sqlite", bool(self.env.get("REDIS_URL")))
        template = _TEMPLATES.get(key) or _migrate_template(key, self.env)
        _TEMPLATES[key] = template
        if self._pg_name:
            import psycopg

            with psycopg.connect(self._pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{self._pg_name}"')
                conn.execute(f'CREATE DATABASE "{self._pg_name}" TEMPLATE "{template}"')
        else:
            database = Path(self.env["COHERENCE_VAR_DIR"]) / "db.sqlite3"
            with (
                closing(sqlite3.connect(template)) as source,
                closing(sqlite3.connect(database)) as db,
            ):
                source.backup(db)

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
        if self._queries is not None:
            self._queries.stop()
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


# --- once per session -------------------------------------------------------------------------
_TEMPLATES: dict[tuple[str, bool], str] = {}


def _migrate_template(key: tuple[str, bool], env: dict[str, str]) -> str:
    """``manage.py migrate`` into a new template database; dropped or removed at exit."""
    admin_url, _ = key
    env = {**env}
    if admin_url == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="coherence-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        env.update(COHERENCE_VAR_DIR=str(folder), MEDIA_ROOT=str(folder / "media"))
        _manage(env, "migrate", "--noinput")
        return str(folder / "db.sqlite3")
    import psycopg

    name = f"coherence_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    atexit.register(_drop_database, admin_url, name)
    env["DATABASE_URL"] = urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    _manage(env, "migrate", "--noinput")
    return name


def _drop_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")


class _QueryProcess:
    """bench/query_server.py in the deployment's environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self._log = log
        self._log_file = log.open("a")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.query_server"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )

    def serves(self, env: dict[str, str]) -> bool:
        return self._process.poll() is None and env == self.env

    def ask(self, code: str, *, timeout: float) -> Any:
        self._process.stdin.write(json.dumps(code) + "\n")
        self._process.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout)
        line = self._process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise AssertionError(f"query process gave no answer:\n{self._log.read_text()[-3000:]}")
        reply = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"query failed:\n{reply['error'][-3000:]}")
        return reply["result"]

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._log_file.close()
