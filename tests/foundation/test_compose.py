"""Docker cannot run here, so the compose file is checked against the code it must start."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mes.management.commands.up import child_specs

ROOT = Path(__file__).resolve().parents[2]


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def documented_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))


def test_compose_has_the_production_services_with_healthchecks_and_volumes():
    compose = load_compose()
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "poller"} <= set(services)
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert {"pgdata", "redisdata", "media"} <= set(compose["volumes"])
    for name in ("web", "worker", "beat", "poller", "migrate"):
        assert services[name]["build"] == ".", name
    assert (ROOT / "Dockerfile").is_file()


def test_compose_commands_match_the_supervisors(settings):
    services = load_compose()["services"]
    settings.TASK_ENGINE = "celery"
    specs = {spec.name: spec.argv for spec in child_specs(bind="0.0.0.0:8000", web_workers=3)}
    # The supervisor runs "python -m gunicorn/celery …"; compose runs the same entry points directly.
    assert services["web"]["command"][:2] == ["gunicorn", specs["web"][3]]
    assert services["worker"]["command"][:4] == ["celery", *specs["worker"][3:6]]
    assert services["beat"]["command"][:4] == ["celery", *specs["beat"][3:6]]
    assert services["poller"]["command"] == ["python", *specs["poller"][1:]]
    assert services["migrate"]["command"] == ["python", "manage.py", "bootstrap"]


def test_each_compose_process_has_the_role_the_supervisor_gives_it(settings):
    services = load_compose()["services"]
    settings.TASK_ENGINE = "celery"
    for spec in child_specs(bind="0.0.0.0:8000", web_workers=3):
        if spec.name in services:
            assert services[spec.name]["environment"]["MES_PROCESS_ROLE"] == spec.env["MES_PROCESS_ROLE"]


def test_compose_variables_are_settings_that_exist():
    compose = load_compose()
    env = compose["services"]["web"]["environment"]
    assert env["TASK_ENGINE"] == "celery"
    assert env["DEBUG"] == "false"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://redis:")
    settings_text = (ROOT / "mes" / "settings.py").read_text()
    known = documented_variables()
    for name in env:
        assert name in known, f"{name} is not documented in .env.example"
        assert f'"{name}"' in settings_text, f"{name} is not read by mes/settings.py"


def test_every_variable_the_settings_read_is_documented():
    settings_text = (ROOT / "mes" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', settings_text))
    missing = read - documented_variables()
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_the_image_and_the_package_carry_every_app():
    """A new app must reach the Docker image and the installed package, or production misses it."""
    import tomllib

    apps = sorted(path.parent.name for path in ROOT.glob("*/apps.py"))
    assert {"mes", "machines", "jobs", "federation", "opcua"} <= set(apps)
    dockerfile = (ROOT / "Dockerfile").read_text()
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for app in apps:
        assert f"COPY {app} ./{app}" in dockerfile, app
        assert f"{app}*" in include["include"], app


def test_every_process_shares_the_media_and_federation_key_volumes():
    """Web and workers both sign federation requests and read uploads: they must see the same files."""
    services = load_compose()["services"]
    for name in ("web", "worker", "beat", "poller", "migrate"):
        service = services[name]
        assert "media:/var/lib/labmes/media" in service["volumes"], name
        assert "federation-keys:/var/lib/labmes/federation" in service["volumes"], name
        assert service["environment"]["FEDERATION_KEY_DIR"] == "/var/lib/labmes/federation", name


def test_the_image_leaves_out_environments_state_and_secrets():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".cache", "var", ".env"} <= ignored


def test_up_runs_the_opcua_bridge_only_when_opcua_is_configured(settings):
    settings.OPCUA_SERVER_URL = ""
    settings.OPCUA_SERVE = ""
    assert "opcua" not in {spec.name for spec in child_specs(bind="127.0.0.1:8000", web_workers=1)}
    for name, value in (
        ("OPCUA_SERVE", "opc.tcp://0.0.0.0:4840"),
        ("OPCUA_SERVER_URL", "opc.tcp://scada:4840"),
    ):
        settings.OPCUA_SERVER_URL = settings.OPCUA_SERVE = ""
        setattr(settings, name, value)
        specs = {spec.name: spec.argv for spec in child_specs(bind="127.0.0.1:8000", web_workers=1)}
        assert specs["opcua"][-2:] == ["manage.py", "opcua_bridge"], name
