"""The Celery app, used when TASK_ENGINE=celery (scale-out with the Redis broker)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")

app = Celery("mes")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def install_periodic_tasks(sender: Celery, **kwargs) -> None:
    """The schedule declared in the apps (mes.engine) becomes Celery beat's."""
    from mes.engine import schedule

    sender.conf.beat_schedule = schedule().celery_beat_schedule()
