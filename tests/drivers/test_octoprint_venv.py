"""The real OctoPrint's virtualenv cache (tests/servers/octoprint.py): outside the checkout, built
atomically, reused. The build itself is replaced by a stub: installing OctoPrint is what the real
OctoPrint tests do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import octoprint

STAMP = f".installed-octoprint-{octoprint.OCTOPRINT_VERSION}"


def test_the_cache_is_per_user_and_per_version(monkeypatch, tmp_path):
    monkeypatch.delenv("MES_OCTOPRINT_VENV", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    venv = octoprint.venv_dir()
    assert venv.parent == tmp_path / "lab-mes"
    assert venv.name.startswith(f"octoprint-{octoprint.OCTOPRINT_VERSION}-py3.")
    monkeypatch.setenv("MES_OCTOPRINT_VENV", str(tmp_path / "mine"))
    assert octoprint.venv_dir() == tmp_path / "mine"


def test_a_build_is_renamed_into_place_and_then_reused(monkeypatch, tmp_path):
    builds: list[Path] = []

    def build(venv: Path) -> None:
        builds.append(venv)
        (venv / "bin").mkdir()

    monkeypatch.setattr(octoprint, "_build", build)
    target = tmp_path / "venv"
    command = octoprint.ensure_installed(target)
    assert command == [str(target / "bin" / "python"), "-m", "octoprint"]
    assert builds[0] != target and builds[0].parent == tmp_path
    assert (target / STAMP).exists() and (target / "bin").is_dir()
    assert octoprint.ensure_installed(target) == command
    assert len(builds) == 1
    assert [path.name for path in tmp_path.iterdir()] == ["venv"]


def test_a_failed_build_leaves_nothing_behind(monkeypatch, tmp_path):
    def build(venv: Path) -> None:
        (venv / "half").touch()
        raise octoprint.OctoPrintUnavailable("pip failed")

    monkeypatch.setattr(octoprint, "_build", build)
    with pytest.raises(octoprint.OctoPrintUnavailable):
        octoprint.ensure_installed(tmp_path / "venv")
    assert list(tmp_path.iterdir()) == []


def test_an_unstamped_venv_is_rebuilt(monkeypatch, tmp_path):
    target = tmp_path / "venv"
    (target / "bin").mkdir(parents=True)
    (target / "leftover").touch()
    monkeypatch.setattr(octoprint, "_build", lambda venv: (venv / "bin").mkdir())
    octoprint.ensure_installed(target)
    assert (target / STAMP).exists() and not (target / "leftover").exists()
