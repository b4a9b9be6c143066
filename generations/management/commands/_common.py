"""Shared bits of the operator commands: waiting with a progress bar, and printing a result."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db.models.fields.files import FieldFile
from tqdm import tqdm

from generations.models import Generation
from generations.selectors import find_generation
from generations.services.reproduce import KEEP_SEED
from pipeline.coherence.drawing import format_report_table, render_report_png


def describe(error: ValidationError) -> str:
    """A ValidationError as one readable line: "field: message; field: message"."""
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())


def load_generation(reference: str) -> Generation:
    generation = find_generation(reference)
    if generation is None:
        raise CommandError(f"No generation with id {reference!r}.")
    return generation


@contextmanager
def running_cluster(enabled: bool) -> Iterator[None]:
    """Start the workers (``manage.py workers``: a real django-q2 cluster) and a ticker for the
    duration (the demo needs no second terminal; the ticker polls hosted predictions when there
    are no webhooks)."""
    if not enabled:
        yield
        return
    manage = Path(settings.BASE_DIR) / "manage.py"
    processes = [
        subprocess.Popen(
            [sys.executable, str(manage), command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for command in ("workers", "ticker")
    ]
    try:
        yield
    finally:
        for process in processes:
            process.terminate()  # SIGTERM: the workers finish the task in hand, within 8 s
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_with_progress(generation: Generation, *, timeout: float, show: bool = True) -> Generation:
    """Poll the database (the source of truth) until the generation ends, drawing a bar."""
    deadline = time.monotonic() + timeout
    bar = tqdm(total=100, unit="%", disable=not show, file=sys.stderr, dynamic_ncols=True)
    try:
        while True:
            generation.refresh_from_db()
            seed = f"seed {generation.seed} · " if generation.seed is not None else ""
            bar.n = generation.progress
            bar.set_description(f"{seed}{generation.stage}"[:60], refresh=False)
            bar.refresh()
            if generation.is_terminal:
                return generation
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Gave up waiting after {timeout:.0f} s; generation {generation.pk} is "
                    f"{generation.status} ({generation.stage}). Are the workers running "
                    "(python manage.py workers)?"
                )
            time.sleep(0.25)
    finally:
        bar.close()


def print_result(out: OutputWrapper, generation: Generation) -> None:
    out.write(f"generation: {generation.pk}")
    out.write(f"status:     {generation.status}")
    seed = generation.seed if generation.seed is not None else "none (seed control off)"
    out.write(f"seed:       {seed}")
    if generation.video:
        out.write(f"video:      {stored_location(generation.video)}")
    if generation.coherence_score is not None:
        out.write(f"coherence:  {generation.coherence_score:.3f}")
    if generation.estimated_cost is not None:
        out.write(f"estimated:  ${generation.estimated_cost:.4f}")
    if generation.cost is not None:
        out.write(f"cost:       ${generation.cost:.4f}")
    for warning in generation.warnings:
        out.write(f"warning:    {warning}")
    if generation.error:
        out.write(f"error:      {generation.error}")


def stored_location(field_file: FieldFile) -> str:
    """Where a stored file is: its local path on the filesystem storage, else its name there."""
    try:
        return field_file.path
    except NotImplementedError:  # object storage has no local path
        return f"{field_file.name} (bucket {getattr(field_file.storage, 'bucket_name', '?')})"


def wait_for_result(
    out: OutputWrapper, generation: Generation, *, run_cluster: bool, timeout: float, show: bool
) -> Generation:
    """Wait (starting a cluster if asked), print the result, and fail unless it succeeded."""
    with running_cluster(run_cluster):
        generation = wait_with_progress(generation, timeout=timeout, show=show)
    print_result(out, generation)
    if generation.status != Generation.Status.SUCCEEDED:
        raise CommandError(f"Generation {generation.pk} {generation.status}: {generation.error}")
    return generation


def add_wait_arguments(parser: CommandParser) -> None:
    """--wait, --run-cluster and --timeout, as every command that starts a generation has."""
    parser.add_argument("--wait", action="store_true", help="wait, with a progress bar")
    parser.add_argument(
        "--run-cluster",
        action="store_true",
        help="start a django-q2 cluster for the duration (implies --wait)",
    )
    parser.add_argument("--timeout", type=float, default=600.0)


def finish_command(out: OutputWrapper, generation: Generation, options: dict[str, Any]) -> None:
    """Say it is queued, or wait for it (with --wait / --run-cluster) and print the result."""
    if not (options["wait"] or options["run_cluster"]):
        out.write("queued: a running qcluster will pick it up (python manage.py workers)")
        return
    wait_for_result(
        out,
        generation,
        run_cluster=options["run_cluster"],
        timeout=options["timeout"],
        show=options["verbosity"] > 0,
    )


def seed_choice(options: dict[str, Any]) -> Any:
    """The seed a ``--seed N | --new-seed`` pair asks for: N, None (draw a fresh one), or
    KEEP_SEED when neither is given."""
    if options["new_seed"]:
        return None
    return options["seed"] if options["seed"] is not None else KEEP_SEED


def money(value: Any) -> str:
    return "unknown (the model's price is not known)" if value is None else f"${value:.4f}"


def write_report(
    command: BaseCommand, report: Any, *, as_json: bool, png: Path | None, title: str = ""
) -> None:
    """Print a coherence report (table or JSON) and write its picture when asked. The "wrote"
    line goes to stderr, so --json output stays machine-readable."""
    if as_json:
        data = report if isinstance(report, dict) else report.to_dict()
        command.stdout.write(json.dumps(data, indent=2, sort_keys=True))
    else:
        if title:
            command.stdout.write(title)
        command.stdout.write(format_report_table(report))
    if png:
        try:
            render_report_png(report, png)
        except OSError as exc:
            raise CommandError(f"Cannot write {png}: {exc.strerror or exc}") from None
        command.stderr.write(f"wrote {png}")
