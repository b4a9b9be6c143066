import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db(transaction=True)
def test_migrations_unapply_and_apply_again():
    call_command("migrate", "generations", "zero", verbosity=0)
    tables = connection.introspection.table_names()
    assert "generations_generation" not in tables
    call_command("migrate", verbosity=0)
    assert "generations_generation" in connection.introspection.table_names()
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


@pytest.mark.django_db
def test_the_database_refuses_a_seed_out_of_range(plan):
    from django.db import IntegrityError

    from generations.models import Generation

    with pytest.raises(IntegrityError):
        Generation.objects.create(
            provider="local",
            model="coherence/local-dna",
            width=64,
            height=64,
            fps=8,
            seed=-1,
        )


@pytest.mark.django_db(transaction=True)
def test_the_seed_rename_keeps_every_seed():
    """0011 renames Generation.seed to seed (as Scene's): a stored seed survives it."""
    executor = MigrationExecutor(connection)
    executor.migrate([("generations", "0010_generation_finalized_from")])
    old = executor.loader.project_state([("generations", "0010_generation_finalized_from")]).apps
    pk = (
        old.get_model("generations", "Generation")
        .objects.create(
            provider="local", model="coherence/local-dna", width=64, height=64, fps=8, seed_value=42
        )
        .pk
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from generations.models import Generation

    assert Generation.objects.get(pk=pk).seed == 42
