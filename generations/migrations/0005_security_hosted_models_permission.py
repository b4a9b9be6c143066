# The hosted-models permission, and the database cache table that throttles share across server
# processes when there is no Redis (settings.CACHES); `migrate` is then all a deployment runs.

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # Creates the table of every configured DatabaseCache; does nothing when it exists, or when
    # the cache is Redis.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0004_scale_leases_and_polling'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='generation',
            options={'ordering': ['-created_at'], 'permissions': [('use_hosted_models', 'Can use hosted (paid) video models')]},
        ),
        migrations.RunPython(create_cache_table, migrations.RunPython.noop, elidable=True),
    ]
