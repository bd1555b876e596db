"""Signals of the foundation that other apps hook into (the foundation never imports them)."""

from django.dispatch import Signal

# Sent by ``manage.py bootstrap`` after migrations, once per installation start (``make run``, the
# compose ``migrate`` service): apps create what must exist before several processes start at once.
bootstrapped = Signal()

# Sent by ``manage.py simulate_fleet --register --demo`` (what ``up --simulate`` runs) with
# ``machine_ids``: apps seed example data for the simulated fleet (spools loaded, a maintenance plan),
# idempotently, so a newcomer sees their features at once. Never sent for real machines. With
# ``example_jobs=True`` (``--demo-jobs``, what ``up --simulate`` passes) the simulator starts now and
# the jobs app fills the queue with example prints (jobs.demo).
demo_fleet_registered = Signal()
