# The hand-over's one name (generations.lifecycle.handover): the Scene fields that record it are
# renamed in place; no data moves. The API keeps its field names.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0012_generation_render_settings"),
    ]

    operations = [
        migrations.RenameField("scene", "latent_reuse_method", "handover_method"),
        migrations.RenameField("scene", "latent_source", "handover_from"),
        migrations.RenameField("scene", "conditioning_sha256", "handover_sha256"),
        migrations.RenameField("scene", "conditioning_frame", "handover_frame"),
    ]
