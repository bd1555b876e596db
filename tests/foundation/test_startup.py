"""A Lab MES process on the embedded engine starts without loading what it never uses.

Every process start (`manage.py up`'s children, each supervisor restart, every poller) pays for its
imports; Celery and the simulator's aiohttp server were loaded by every one of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_an_embedded_process_loads_neither_celery_nor_the_simulator_server(tmp_path):
    code = "import sys; print(' '.join(sorted(m for m in ('celery', 'aiohttp', 'simulator.server') if m in sys.modules)))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "MES_ENV_FILE": "/dev/null", "MES_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_simulator_names_still_load_on_first_use():
    import simulator

    assert simulator.ThreadedSimulator.__module__ == "simulator.server"
    assert "mixed" in simulator.CHOICES
