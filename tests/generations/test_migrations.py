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
            seed_value=-1,
        )
