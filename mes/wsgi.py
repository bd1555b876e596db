"""WSGI entry point (gunicorn mes.wsgi)."""

import os
import sys

from django.core.wsgi import get_wsgi_application

from mes import config, gcfreeze
from mes.config import exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
with exit_on_configuration_error():
    application = get_wsgi_application()
    if "gunicorn" in sys.modules:
        from django.conf import settings

        config.refuse_debug(
            debug=settings.DEBUG,
            binds=config.gunicorn_binds(sys.argv, os.environ.get("GUNICORN_CMD_ARGS", "")),
        )
        # What a worker holds for its life leaves the full collections (a p99 of the machine list).
        gcfreeze.freeze_after_startup()
