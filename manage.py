#!/usr/bin/env python
"""Django's command-line utility for Lab MES."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
    from django.core.management import execute_from_command_line

    from mes.config import exit_on_configuration_error

    with exit_on_configuration_error():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
