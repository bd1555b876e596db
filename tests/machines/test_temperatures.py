"""The short temperature history behind the machine page's chart (machines.temperatures)."""

from __future__ import annotations

import pytest

from machines import temperatures
from machines.state import LiveState

pytestmark = pytest.mark.django_db


def _state(tool: float, bed: float) -> LiveState:
    return LiveState(
        data={
            "printer_state": {
                "temperatures": {
                    "tool0": {"actual": tool, "target": 215.0},
                    "bed": {"actual": bed, "target": 60},
                }
            }
        }
    )


def test_samples_are_kept_oldest_first_and_at_most_one_per_interval(settings):
    settings.MACHINES_TEMPERATURE_SAMPLE_SECONDS = 3600
    assert temperatures.record("m-1", _state(25.0, 21.0), now=1_000_000)
    assert not temperatures.record("m-1", _state(30.0, 22.0), now=1_000_002)  # too soon: not sampled
    settings.MACHINES_TEMPERATURE_SAMPLE_SECONDS = 0
    assert temperatures.record("m-1", _state(120.5, 40.0), now=1_000_060)
    samples = temperatures.history("m-1")
    assert [values for _, values in samples] == [{"tool0": 25.0, "bed": 21.0}, {"tool0": 120.5, "bed": 40.0}]
    assert [at.timestamp() for at, _ in samples] == [1_000_000, 1_000_060]
    temperatures.forget("m-1")
    assert temperatures.history("m-1") == []


def test_only_the_last_samples_are_kept_and_states_without_temperatures_add_none(settings):
    settings.MACHINES_TEMPERATURE_SAMPLE_SECONDS = 0
    assert not temperatures.record("m-2", LiveState())
    for n in range(temperatures.KEEP + 5):
        temperatures.record("m-2", _state(float(n), 20.0), now=float(n))
    samples = temperatures.history("m-2")
    assert len(samples) == temperatures.KEEP and samples[0][1]["tool0"] == 5.0


def test_properties_are_read_when_the_printer_state_is_not_there():
    state = LiveState(
        properties=[
            {"key": "tool0", "value": 200.0, "group": "temperatures"},
            {"key": "tool0_target", "value": 215.0, "group": "temperatures"},
            {"key": "job_file", "value": "x.gcode", "group": "job"},
        ]
    )
    assert temperatures.readings(state) == {"tool0": 200.0}
