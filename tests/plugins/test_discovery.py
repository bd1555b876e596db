"""Plugin discovery: built-ins, the installed example package's real entry point, and every error."""

from __future__ import annotations

import importlib.metadata

import pytest

from machines.registry import get_registry
from plugins import discovery
from plugins.base import MachineDriverMixin, MesPlugin
from plugins.discovery import discover
from plugins.models import PluginConfig
from tests.machines.dummy import BrokenDriversPlugin, DummyPlugin


class OldPlugin(MesPlugin):
    SLUG = "old"
    NAME = "Old"
    VERSION = "1"
    AUTHOR = "someone"
    DESCRIPTION = "Supports only ancient Lab MES."
    MES_VERSION = "<0.1"


class NoAuthorPlugin(MesPlugin):
    SLUG = "no-author"
    NAME = "No author"
    VERSION = "1"
    DESCRIPTION = "Forgot AUTHOR and MES_VERSION."


class BadSpecPlugin(OldPlugin):
    SLUG = "bad-spec"
    MES_VERSION = "version one please"


class CopyOfDummy(DummyPlugin):
    NAME = "Copy"


class ExplodingPlugin(MachineDriverMixin, OldPlugin):
    SLUG = "exploding"
    MES_VERSION = ">=0.1"

    def __init__(self):
        raise RuntimeError("needs a licence server")


class NotAPlugin:
    SLUG = "not-a-plugin"


def by_plugin(errors):
    return {error.plugin: error.reason for error in errors}


def test_example_package_is_found_through_its_real_entry_point():
    eps = [ep for ep in importlib.metadata.entry_points(group="mes.plugins") if ep.name == "folder-labels"]
    assert eps, "pip install -e examples/mes-plugin-example"
    result = discover()
    found = {p.slug: p for p in result.plugins}
    assert found["folder-labels"].builtin is False
    assert found["folder-labels"].source == "entry-point:folder-labels (mes-plugin-example)"
    assert found["folder-labels"].plugin.mixins() == ["machine"]


def test_entry_points_can_be_turned_off():
    assert "folder-labels" not in {p.slug for p in discover(entry_points=False).plugins}


def test_every_broken_plugin_becomes_an_error_naming_it(monkeypatch):
    real = importlib.metadata.entry_points

    def with_broken(group):
        return [
            *real(group=group),
            importlib.metadata.EntryPoint("vendor", "tests.plugins.broken_module:Plugin", group),
            importlib.metadata.EntryPoint("typo", "tests.plugins.test_discovery:DoesNotExist", group),
        ]

    monkeypatch.setattr(discovery.importlib.metadata, "entry_points", with_broken)
    result = discover(
        extra=[
            DummyPlugin,
            OldPlugin,
            NoAuthorPlugin,
            BadSpecPlugin,
            CopyOfDummy,
            ExplodingPlugin,
            NotAPlugin,
        ]
    )
    errors = by_plugin(result.errors)
    assert errors["entry-point:vendor (?)"] == "import failed: ImportError(\"No module named 'vendor_sdk'\")"
    assert errors["entry-point:typo (?)"].startswith("import failed: AttributeError(")
    assert errors["old"] == "supports Lab MES <0.1, but this is Lab MES 0.1.0"
    assert errors["no-author"] == "missing required attribute(s): AUTHOR, MES_VERSION"
    assert errors["bad-spec"].startswith("MES_VERSION 'version one please' is not a valid version specifier")
    assert errors["dummy"] == (
        "duplicate slug 'dummy': already provided by extra:tests.machines.dummy.DummyPlugin"
    )
    assert errors["exploding"] == "could not be instantiated: RuntimeError('needs a licence server')"
    assert "is not a subclass of plugins.base.MesPlugin" in errors["not-a-plugin"]
    # the good plugins are still there
    assert {"dummy", "folder-labels"} <= {p.slug for p in result.plugins}


def test_builtin_package_that_fails_to_import_is_an_error(monkeypatch, settings, tmp_path):
    package = tmp_path / "brokenbuiltin"
    package.mkdir()
    (package / "__init__.py").write_text("import not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MES_BUILTIN_PLUGINS = [*settings.MES_BUILTIN_PLUGINS, "brokenbuiltin"]
    result = discover(entry_points=False)
    errors = by_plugin(result.errors)
    assert errors["builtin:brokenbuiltin"].startswith("import failed: ModuleNotFoundError(")
    # the other built-ins still load
    assert "printer-drivers" in {p.slug for p in result.plugins}


def test_builtin_module_without_plugin_list_is_an_error(monkeypatch, settings, tmp_path):
    (tmp_path / "listless.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MES_BUILTIN_PLUGINS = ["listless"]
    errors = by_plugin(discover(entry_points=False).errors)
    assert errors["builtin:listless"] == "a built-in plugin module must declare MES_PLUGINS = [...], not None"


def test_broken_drivers_and_types_are_registry_errors_not_crashes(db, fresh_registries):
    registry = fresh_registries(DummyPlugin, BrokenDriversPlugin, activate=("dummy", "broken-drivers"))
    registry.ensure_current()
    reasons = [e.reason for e in registry.errors if e.plugin == "broken-drivers"]
    assert reasons == [
        "machine type bad-type: status WEIRD=700 is outside 100-599",
        "machine type NamelessMachineType is missing required attribute(s): NAME, base_driver, "
        "MACHINE_STATUS, default_machine_status",
        "driver incomplete: missing required override(s): upload, start, pause, resume, cancel, delete_file, "
        "list_files, capabilities",
        "driver no-label-method: missing required override(s): print_label or print_labels",
        "driver wrong-type: machine type 'time-machine' is not available; known: ['label-printer', 'printer-3d']",
        "driver clashing: settings ['LABEL_WIDTH_MM'] clash with machine type label-printer",
        "driver bad-setting: setting SPEED: type 'velocity' is not one of "
        "['str', 'int', 'float', 'bool', 'list', 'choice']",
        "driver 'dummy-printer' is already provided by plugin dummy",
    ]
    # everything valid still works
    assert registry.get_driver("dummy-printer") is not None
    assert "incomplete" not in registry.drivers


def test_plugin_configs_builtin_active_third_party_inactive(db, fresh_registries):
    registry = fresh_registries(DummyPlugin, activate=())
    registry.ensure_current()
    rows = {row.slug: row for row in PluginConfig.objects.all()}
    assert rows["folder-labels"].active is False and rows["folder-labels"].builtin is False
    assert rows["dummy"].active is False
    assert "dummy-printer" not in registry.drivers
    assert registry.choice_errors("printer-3d", "dummy-printer") == {
        "driver": "Driver 'dummy-printer' belongs to plugin 'dummy', which is inactive; "
        "valid choices for printer-3d are ['moonraker', 'octoprint', 'prusalink']."
    }


def test_example_plugin_driver_works_end_to_end(db, fresh_registries, tmp_path):
    from machines.services import machine_create
    from plugins.services import plugin_activate

    fresh_registries(DummyPlugin, activate=())
    plugin_activate(slug="folder-labels")
    config = machine_create(
        name="Labels",
        machine_type="label-printer",
        driver="folder-labels",
        settings={"OUTPUT_DIR": str(tmp_path)},
    )
    registry = get_registry()
    machine = registry.get_machine(config.pk)
    assert machine.initialized, machine.state.errors
    machine.driver.print_labels(machine, ["PLA spool 1", "PETG spool 2"])
    assert sorted(p.read_text() for p in tmp_path.glob("*.txt")) == ["PETG spool 2", "PLA spool 1"]
    assert machine.state.property("labels_printed") == 2
    assert machine.state.status == 100

    missing = machine_create(
        name="Nowhere",
        machine_type="label-printer",
        driver="folder-labels",
        settings={"OUTPUT_DIR": str(tmp_path / "missing")},
    )
    state = get_registry().get_machine(missing.pk).state
    assert not state.initialized
    assert state.errors == [
        f"init_machine failed: FileNotFoundError: output folder {tmp_path / 'missing'} does not exist"
    ]


@pytest.mark.parametrize("slug", ["folder-labels"])
def test_deactivating_a_plugin_tears_its_machines_down(db, fresh_registries, tmp_path, slug):
    from machines.services import machine_create
    from plugins.services import plugin_activate, plugin_deactivate

    fresh_registries(DummyPlugin, activate=())
    plugin_activate(slug=slug)
    config = machine_create(
        name="Labels",
        machine_type="label-printer",
        driver="folder-labels",
        settings={"OUTPUT_DIR": str(tmp_path)},
    )
    assert get_registry().get_machine(config.pk).initialized
    plugin_deactivate(slug=slug)
    machine = get_registry().get_machine(config.pk)
    assert machine.driver is None and not machine.running
    assert machine.config_errors[0].startswith(
        "Driver 'folder-labels' belongs to plugin 'folder-labels', which is inactive"
    )
    assert machine.state.status_text == "Stopped"  # teardown_machine ran
    assert not machine.state.initialized
