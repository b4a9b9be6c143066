"""Register the periodic reconciler with django-q2's scheduler (the database is the source of
truth, so the queue only needs a regular nudge to find anything stuck).

The schedule used to be registered by the former ``pipeline`` app as ``pipeline.tasks.reconcile_task``;
update_or_create on the same name points an existing schedule at the task's new home.
"""

from django.db import migrations

NAME = "coherence-reconcile"


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={"func": "generations.tasks.reconcile_task", "schedule_type": "I", "minutes": 1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(add_schedule, remove_schedule)]
