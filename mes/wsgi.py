"""WSGI entry point (gunicorn mes.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from mes.config import exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
with exit_on_configuration_error():
    application = get_wsgi_application()
