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
        # The machine registry is loaded now, not by the first request that needs it (1000 machines
        # took that request ~0.5 s), and with everything else a worker holds for its life it leaves
        # the full collections (they made the machine list's p99).
        from django.db import connections

        from machines.registry import get_registry

        get_registry()
        connections.close_all()  # requests run on other threads, with connections of their own
        gcfreeze.freeze_after_startup()
