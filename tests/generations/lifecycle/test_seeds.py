import threading

import pytest
from django.db import connection

from generations.lifecycle import seeds
from generations.models import SEED_MAX, Generation
from generations.services.create import create_generation
from generations.services.request import GenerationRequest
from pipeline.seeds import generate_seed, scene_seed


def test_generated_seeds_are_in_range_and_vary():
    drawn = {generate_seed() for _ in range(200)}
    assert all(0 <= s <= SEED_MAX for s in drawn)
    assert len(drawn) > 190


@pytest.mark.django_db
def test_the_same_generation_gets_the_same_seed_on_every_call(plan):
    generation = create_generation(GenerationRequest(scenes=plan), enqueue=False)
    first = seeds.ensure_generation_seed(generation_id=generation.pk)
    assert first is not None
    assert seeds.ensure_generation_seed(generation_id=generation.pk) == first
    generation.refresh_from_db()
    assert generation.seed == first


@pytest.mark.django_db
def test_a_supplied_seed_is_kept(plan):
    generation = create_generation(GenerationRequest(scenes=plan, seed=42), enqueue=False)
    assert seeds.ensure_generation_seed(generation_id=generation.pk) == 42


@pytest.mark.django_db
def test_seed_control_off_draws_nothing(plan):
    generation = create_generation(
        GenerationRequest(scenes=plan, coherence_settings={"seed_control": False}), enqueue=False
    )
    assert seeds.ensure_generation_seed(generation_id=generation.pk) is None
    generation.refresh_from_db()
    assert generation.seed is None


def test_shared_mode_gives_every_scene_the_same_seed():
    assert {scene_seed(base_seed=10, index=i, mode="shared") for i in range(5)} == {10}


def test_offset_mode_adds_the_scene_index_modulo_2_31():
    assert scene_seed(base_seed=10, index=3, mode="offset") == 13
    assert scene_seed(base_seed=SEED_MAX, index=2, mode="offset") == 1


def test_no_base_seed_means_no_scene_seed():
    assert scene_seed(base_seed=None, index=0, mode="offset") is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_callers_on_two_connections_store_one_seed(plan, monkeypatch):
    generation = create_generation(GenerationRequest(scenes=plan), enqueue=False)
    draws = iter([111, 222])
    lock = threading.Lock()

    def slow_draw() -> int:
        with lock:
            value = next(draws)
        threading.Event().wait(0.2)  # widen the race window
        return value

    monkeypatch.setattr(seeds, "generate_seed", slow_draw)
    barrier = threading.Barrier(2)
    results: list[int | None] = []

    def caller() -> None:
        barrier.wait()
        try:
            results.append(seeds.ensure_generation_seed(generation_id=generation.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = Generation.objects.get(pk=generation.pk).seed
    assert results == [stored, stored]


@pytest.mark.parametrize(
    ("settings", "seed", "awaits"),
    [
        ({}, None, True),  # seed control is on by default: drawn when it starts
        ({"seed_control": True}, 7, False),
        ({"seed_control": False}, None, False),  # no seed will ever be drawn
    ],
)
def test_awaits_seed_is_seed_control_on_and_no_seed_drawn_yet(settings, seed, awaits):
    assert Generation(render_settings=settings, seed=seed).awaits_seed is awaits
