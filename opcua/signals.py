"""What the lab asked for over OPC UA. The bridge only emits; ``opcua.requests`` carries the requests
out through the jobs services (jobs never imports opcua).

Both signals are sent from the bridge process (a worker thread, never the event loop), with
``sender=None``:

- ``bed_cleared_requested(machine_id: str, user: str)``: the robot cell or SCADA confirmed that the
  plate was removed (method ``BedCleared`` or a write of ``AwaitingBedClear=false``).
- ``machine_control_requested(machine_id: str, action: str, user: str)``: ``action`` is
  ``"pause"``, ``"resume"`` or ``"cancel"``; only sent when ``OPCUA_ALLOW_CONTROL`` is true.

``user`` is the OPC UA user name the request was authenticated as, prefixed ``opcua:``.
"""

from __future__ import annotations

from django.dispatch import Signal

from jobs.states import ControlAction

bed_cleared_requested = Signal()
machine_control_requested = Signal()

CONTROL_ACTIONS = tuple(ControlAction.values)  # the jobs app's actions, defined once in jobs.states
