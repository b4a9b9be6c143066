"""Run django-q2's cluster so that it stops cleanly however it is stopped (``manage.py workers``).

django-q2's ``qcluster`` stops cleanly on SIGINT, or on SIGTERM to its main process alone: the
main process tells its sentinel to stop, the sentinel stops fetching and lets each worker finish
the task in hand. A SIGTERM to its whole process group (``kill -- -PGID``, a container runtime
without an init, many supervisors) also reaches the sentinel and the workers, which take SIGTERM's
default action and die at once (the sentinel resets it so). The main process's handler then sets
the stop event the dead sentinel was sleeping on, and a multiprocessing Condition's ``notify``
waits for that sleeper to wake: it never does, and the cluster hangs for good (django-q2 issue
#346; reproduced on every try with django-q2 1.11).

``supervise`` puts the cluster out of the caller's reach instead: it runs ``manage.py qcluster``
in a session of its own, so no signal meant for this process's group reaches the sentinel or the
workers; it turns every stop signal into the one stop django-q2 handles (SIGINT to the cluster's
main process); and if the cluster is not gone within ``grace`` seconds (a task longer than that,
or a second stop signal), it kills the cluster's whole session. A task cut short that way is taken
up again by the reconciler once its lease lapses, as after any crash.

"The task in hand" must stay short for that: a worker that renders a chain of local scenes carries
on with each successor itself (generations.tasks.run_scene_task). On a stop, the supervisor
creates the file named by ``STOP_FILE_ENV`` in the cluster's environment (a channel between the
supervisor and its cluster, not a setting); a worker that sees it hands the successor to the
queue instead, where the next cluster takes it up.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_SECONDS = 0.1
STOP_FILE_ENV = "COHERENCE_WORKERS_STOP_FILE"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def cluster_command() -> list[str]:
    """django-q2's own cluster command, run by this interpreter."""
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "qcluster"]


def stop_requested() -> bool:
    """Whether this worker's supervisor is stopping the cluster (never, under a bare qcluster)."""
    path = os.environ.get(STOP_FILE_ENV)
    return bool(path) and os.path.exists(path)


def supervise(*, grace: float, say: Callable[[str], None], command: list[str] | None = None) -> int:
    """Run the cluster until a stop signal (or its own exit); return the exit status to use.

    0 after a requested stop; the cluster's own status when it ended by itself (a supervisor
    then restarts it)."""
    received: list[int] = []  # the handlers only append: nothing in a handler may take a lock
    with _recording(received), tempfile.TemporaryDirectory(prefix="coherence-workers-") as tmp:
        stop_file = Path(tmp) / "stopping"
        cluster = subprocess.Popen(
            command or cluster_command(),
            env={**os.environ, STOP_FILE_ENV: str(stop_file)},
            start_new_session=True,
            preexec_fn=_stop_with_parent(),
        )
        say(f"workers: cluster pid {cluster.pid} running (SIGTERM or SIGINT stops it)")
        while cluster.poll() is None and not received:
            time.sleep(POLL_SECONDS)
        if not received:
            _kill_session(cluster.pid)
            say(f"workers: the cluster exited by itself with status {cluster.returncode}")
            return cluster.returncode or 1
        stop_file.touch()
        _stop(cluster, grace=grace, received=received, say=say)
    return 0


def _stop(cluster: subprocess.Popen, *, grace: float, received: list[int], say) -> None:
    """Ask the cluster to finish the tasks in hand; kill its session after ``grace`` seconds or
    at a second stop signal."""
    started = time.monotonic()
    say(
        f"workers: {signal.Signals(received[0]).name} received; stopping the cluster "
        f"(tasks in hand finish; at most {grace:g} s)"
    )
    with contextlib.suppress(ProcessLookupError):
        os.kill(cluster.pid, signal.SIGINT)
    deadline = started + grace
    while cluster.poll() is None and time.monotonic() < deadline and len(received) < 2:
        time.sleep(POLL_SECONDS)
    forced = cluster.poll() is None
    _kill_session(cluster.pid)  # kills what is left: nothing after a clean stop
    cluster.wait()
    elapsed = time.monotonic() - started
    if forced:
        say(
            f"workers: killed the cluster after {elapsed:.1f} s; tasks it had in hand are taken "
            "up again once their leases lapse"
        )
    else:
        say(f"workers: stopped in {elapsed:.1f} s")


def _kill_session(pid: int) -> None:
    """SIGKILL every process of the session the cluster leads (its pid is the group id)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def _recording(received: list[int]) -> Iterator[None]:
    def record(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_with_parent() -> Callable[[], None] | None:
    """What the cluster's process runs before exec: if this supervisor is SIGKILLed, the cluster
    gets SIGINT (a clean stop) instead of running on unsupervised. Linux only. libc is loaded
    here, in the parent: the child between fork and exec may do no more than the call."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGINT)
