"""Signals the machine registry sends (in the process that made the change).

- ``machine_state_changed(machine, old, new)``: any write to a machine's live state (``LiveState``s).
- ``machine_status_changed(machine, old_status, new_status)``: the status code changed (ints or None).
- ``machine_became_idle(machine)``: the status entered one of the type's ``idle_statuses``.
- ``registry_reloaded(registry, generation)``: this process rebuilt its registry.
- ``machines_created(machines)``: machines were added in bulk (``machines_create_many``: the rows were
  inserted without ``post_save``), inside the creating transaction.

Other processes see the result through the cache, not through these signals.
"""

from django.dispatch import Signal

machine_state_changed = Signal()
machine_status_changed = Signal()
machine_became_idle = Signal()
registry_reloaded = Signal()
machines_created = Signal()
