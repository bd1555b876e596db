"""Create the database cache's table as part of migrate, so no separate step can be forgotten."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("mes", "0002_lease")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
