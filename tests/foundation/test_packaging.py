"""Installing Lab MES prints no setuptools warnings (the license is an SPDX expression, not a table)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize(
    "project", [ROOT, ROOT / "examples" / "mes-plugin-example"], ids=["lab-mes", "example"]
)
def test_pip_install_editable_prints_no_packaging_warnings(project):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-deps",
            "--ignore-installed",
            "-e",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "license" not in output.lower(), output
    assert "Warning" not in output, output
