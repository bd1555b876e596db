#!/usr/bin/env python
"""Django's command-line utility for Lab MES."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Configuration mistakes are the operator's to fix: one line, no traceback.
        sys.stderr.write(f"Lab MES configuration error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
