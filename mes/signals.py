"""Signals of the foundation that other apps hook into (the foundation never imports them)."""

from django.dispatch import Signal

# Sent by ``manage.py bootstrap`` after migrations, once per installation start (``make run``, the
# compose ``migrate`` service): apps create what must exist before several processes start at once.
bootstrapped = Signal()
