"""Two finalizes of one preview, in two real processes on one database: one generation is made
and one start is queued; both answer with it. On SQLite (the embedded default) and, with
DATABASE_URL set, on PostgreSQL (.ci/run's second pass).

Each process looks for a finalized generation, then waits at a gate until the other has looked
too: both looks find none, so both go on to insert, and only the database (the unique
``finalized_from`` column) can keep the second one out.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest

from bench.deployment import Deployment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FINALIZE = """
import time
from pathlib import Path
from generations.iterate import finalize

real_look, looks = finalize.finalized_generation, []

def gated_look(preview):
    found = real_look(preview)
    looks.append(found)
    if len(looks) == 1:  # the first look, before the transaction: meet the other process here
        Path({mine!r}).touch()
        deadline = time.monotonic() + 60
        while not Path({other!r}).exists():
            if time.monotonic() > deadline:
                raise SystemExit("the other finalize never looked")
            time.sleep(0.01)
    return found

finalize.finalized_generation = gated_look
generation, created = finalize.finalize_preview(preview=Generation.objects.get(pk={pk!r}))
result = [str(generation.pk), created, looks[0] is None]
"""


def test_two_processes_finalizing_one_preview_make_one_generation(tmp_path):
    deployment = Deployment(tmp_path / "var")
    try:
        deployment.migrate()
        preview_id = deployment.query(
            "from generations.services.create import create_generation\n"
            "from generations.services.request import GenerationRequest\n"
            "scenes = [{'prompt': 'a fox', 'duration': 1.0, 'continuous': False},\n"
            "          {'prompt': 'the fox runs', 'duration': 1.0, 'continuous': True}]\n"
            "asked = GenerationRequest(scenes=scenes, quality='preview', seed=7)\n"
            "result = str(create_generation(asked, enqueue=False).pk)"
        )
        gates = [tmp_path / "gate-a", tmp_path / "gate-b"]
        scripts = [
            FINALIZE.format(mine=str(gates[0]), other=str(gates[1]), pk=preview_id),
            FINALIZE.format(mine=str(gates[1]), other=str(gates[0]), pk=preview_id),
        ]
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(partial(deployment.query, fresh=True), scripts))
        assert all(looked_first_and_found_none for _, _, looked_first_and_found_none in answers)
        assert {pk for pk, _, _ in answers} == {answers[0][0]}  # both answer with one generation
        assert sorted(created for _, created, _ in answers) == [False, True]
        made = deployment.query(
            "from django_q.models import OrmQ\n"
            f"result = [list(Generation.objects.filter(finalized_from_id={preview_id!r})"
            ".values_list('pk', flat=True)), Generation.objects.filter(quality='full').count(),"
            " OrmQ.objects.count()]"
        )
        assert made == [[answers[0][0]], 1, 1]  # one generation, one start queued
    finally:
        deployment.stop()
