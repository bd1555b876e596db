"""The Celery app, used when TASK_ENGINE=celery (scale-out with the Redis broker)."""

import os

from celery import Celery
from celery.signals import setup_logging
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from mes.config import exit_on_configuration_error
from mes.engine import celery_install, schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
# Celery reads the settings lazily, deep inside the worker's start-up; read them now so that a
# configuration mistake stops the worker or beat with one line instead of a traceback.
with exit_on_configuration_error():
    settings.INSTALLED_APPS  # noqa: B018 - the first attribute access loads the settings module

app = Celery("mes")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
celery_install(app)


@app.on_after_finalize.connect
def install_periodic_tasks(sender: Celery, **kwargs) -> None:
    """The schedule declared in the apps (mes.engine) becomes Celery beat's."""
    unknown = schedule().unknown_intervals()
    # Celery runs no Django system checks (manage.py refuses with mes.E010) and logs what a signal
    # handler raises: exit, with the one line a configuration error gets.
    with exit_on_configuration_error():
        if unknown:
            raise ImproperlyConfigured(f"PERIODIC_INTERVALS names no periodic task: {', '.join(unknown)}")
    sender.conf.beat_schedule = schedule().celery_beat_schedule()


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Worker and beat log through Django's LOGGING (its filters and levels) instead of Celery's own."""
    from logging.config import dictConfig

    dictConfig(settings.LOGGING)
