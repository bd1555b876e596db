"""The admin: coloured live status, errors, last seen, validated inline settings, masked secrets, actions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from machines.machine_types.printer_state import PrinterState, PrinterStatus, PrinterUnreachable
from machines.models import MachineConfig, MachineSetting
from machines.registry import get_registry
from machines.services import machine_create
from plugins.models import PluginConfig
from tests.machines.dummy import BrokenDriversPlugin, DummyPlugin

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.org", "pw-123456!")
    client.force_login(user)
    return client


def change_form_data(machine: MachineConfig, rows: list[dict], **fields) -> dict:
    data = {
        "name": machine.name,
        "machine_type": machine.machine_type,
        "driver": machine.driver,
        "active": "on" if machine.active else "",
        "settings-TOTAL_FORMS": str(len(rows)),
        "settings-INITIAL_FORMS": str(sum(1 for r in rows if r.get("id"))),
        "settings-MIN_NUM_FORMS": "0",
        "settings-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"settings-{index}-{key}"] = value
        data[f"settings-{index}-machine"] = str(machine.pk)
    return data


def test_changelist_shows_coloured_status_errors_and_last_seen(registry, admin_client):
    machine_create(name="Good", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "a"})
    machine_create(name="Gone", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "b"})
    machine_create(name="NoHost", machine_type="printer-3d", driver="dummy-printer")
    registry = get_registry()
    driver = registry.get_driver("dummy-printer")
    driver.states["Good"] = PrinterState(status=PrinterStatus.PRINTING)
    driver.states["Gone"] = PrinterUnreachable("timed out")
    for machine in registry.machines():
        registry.poll(machine)
    html = admin_client.get("/admin/machines/machineconfig/").content.decode()
    assert '<span class="mes-badge mes-badge-primary" title="ok">Printing</span>' in html
    assert "mes/admin-badges.css" in html  # the colours come from the stylesheet (no inline styles)
    assert 'title="machine_fault">Disconnected</span> <small>Unreachable: timed out</small>' in html
    assert "<li>Missing required settings: HOST</li>" in html
    assert "never" in html  # NoHost was never seen


def test_secret_settings_are_masked_and_kept_when_left_blank(registry, admin_client):
    machine = machine_create(
        name="P1",
        machine_type="printer-3d",
        driver="dummy-printer",
        settings={"HOST": "h", "API_KEY": "s3cret"},
    )
    url = f"/admin/machines/machineconfig/{machine.pk}/change/"
    html = admin_client.get(url).content.decode()
    assert "s3cret" not in html
    key_row = MachineSetting.objects.get(key="API_KEY")
    host_row = MachineSetting.objects.get(key="HOST")
    rows = [
        {"id": key_row.pk, "config_type": "D", "key": "API_KEY", "value": ""},
        {"id": host_row.pk, "config_type": "D", "key": "HOST", "value": "new-host"},
    ]
    response = admin_client.post(url, change_form_data(machine, rows))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert MachineSetting.objects.get(key="API_KEY").value == "s3cret"
    assert MachineSetting.objects.get(key="HOST").value == "new-host"
    assert get_registry().get_machine(machine.pk).get_setting("HOST") == "new-host"


def test_inline_settings_are_validated(registry, admin_client):
    machine = machine_create(
        name="P1", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "h"}
    )
    url = f"/admin/machines/machineconfig/{machine.pk}/change/"
    host_row = MachineSetting.objects.get(key="HOST")
    rows = [
        {"id": host_row.pk, "config_type": "D", "key": "HOST", "value": "h"},
        {"config_type": "D", "key": "PORT", "value": "99999"},
        {"config_type": "M", "key": "WARP_DRIVE", "value": "1"},
    ]
    response = admin_client.post(url, change_form_data(machine, rows))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Must be at most 65535." in html
    assert "Unknown setting M:WARP_DRIVE; valid settings are [" in html
    assert not MachineSetting.objects.filter(key__in=["PORT", "WARP_DRIVE"]).exists()


def test_unknown_driver_in_admin_lists_valid_choices(registry, admin_client):
    machine = machine_create(
        name="P1", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "h"}
    )
    url = f"/admin/machines/machineconfig/{machine.pk}/change/"
    response = admin_client.post(url, change_form_data(machine, [], driver="dummy-label"))
    assert response.status_code == 200
    # the built-in printer drivers are valid choices too
    assert "valid choices are [&#x27;dummy-printer&#x27;, &#x27;moonraker&#x27;" in response.content.decode()
    assert MachineConfig.objects.get(pk=machine.pk).driver == "dummy-printer"


def test_actions_restart_activate_deactivate(registry, admin_client):
    machine = machine_create(
        name="P1", machine_type="printer-3d", driver="dummy-printer", settings={"HOST": "h"}
    )
    url = "/admin/machines/machineconfig/"
    admin_client.post(url, {"action": "deactivate_machines", "_selected_action": [machine.pk]})
    assert not MachineConfig.objects.get(pk=machine.pk).active
    admin_client.post(url, {"action": "activate_machines", "_selected_action": [machine.pk]})
    assert MachineConfig.objects.get(pk=machine.pk).active
    response = admin_client.post(
        url, {"action": "restart_machines", "_selected_action": [machine.pk]}, follow=True
    )
    assert "P1: restarted." in response.content.decode()
    assert get_registry().get_driver("dummy-printer").calls_for("P1") == [
        "init_machine",
        "teardown_machine",
        "init_machine",
        "restart_machine",
        "teardown_machine",
        "init_machine",
    ]


def test_plugin_admin_lists_errors_and_toggles_activation(db, fresh_registries, admin_client):
    fresh_registries(DummyPlugin, BrokenDriversPlugin, activate=("broken-drivers",))
    get_registry()
    html = admin_client.get("/admin/plugins/pluginconfig/").content.decode()
    assert "driver no-label-method: missing required override(s): print_label or print_labels" in html
    dummy = PluginConfig.objects.get(slug="dummy")
    assert not dummy.active
    admin_client.post(
        "/admin/plugins/pluginconfig/", {"action": "activate_plugins", "_selected_action": [dummy.pk]}
    )
    assert PluginConfig.objects.get(slug="dummy").active
    assert "dummy-printer" in get_registry().drivers
