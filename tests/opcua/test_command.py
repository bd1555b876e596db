"""`manage.py opcua_bridge` as the supervisor runs it: a real process, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from asyncua import Client, ua

from tests.migrated import migrated_sqlite
from tests.opcua.conftest import NS, free_port, listening

ROOT = Path(__file__).resolve().parents[2]


def test_command_serves_and_stops_cleanly_on_sigterm(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "TASK_ENGINE", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}
    }
    env.update(
        MES_ENV_FILE="/dev/null",
        MES_VAR_DIR=str(tmp_path),  # a throwaway SQLite database, never the developer's
        OPCUA_SERVE=f"opc.tcp://127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    migrated_sqlite(tmp_path)
    log = (tmp_path / "bridge.log").open("w+")  # a file, not a pipe nobody reads while we wait
    process = subprocess.Popen(
        [*manage, "opcua_bridge"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    try:

        async def browse() -> list[str]:
            await listening(port, timeout=30)
            client = Client(f"opc.tcp://127.0.0.1:{port}", timeout=2)
            await client.connect()
            try:
                ns = await client.get_namespace_index(NS)
                for _ in range(100):  # the outbox is being delivered
                    try:
                        root = await client.nodes.objects.get_child([f"{ns}:LabMES"])
                        names = [(await child.read_browse_name()).Name for child in await root.get_children()]
                    except ua.UaStatusCodeError:
                        names = []
                    if "Queue" in names:
                        break
                    await asyncio.sleep(0.1)
                return names
            finally:
                await client.disconnect()

        names = asyncio.run(browse())
        assert names == ["Machines", "Queue"], (tmp_path / "bridge.log").read_text()[
            -3000:
        ]  # queue published at start
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    output = (tmp_path / "bridge.log").read_text()
    assert process.returncode == 0, output[-3000:]
    assert f"serving OPC UA on opc.tcp://127.0.0.1:{port}" in output
    assert "changes queued from the current fleet and queue" in output


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [("OPCUA_SERVE", "", "OPC UA is not configured"), ("OPCUA_SERVE", "tcp://x:1", "not an opc.tcp://")],
)
def test_command_refuses_bad_configuration_with_one_line(tmp_path, setting, value, message):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPCUA_") and k != "DATABASE_URL"}
    env.update(MES_ENV_FILE="/dev/null", MES_VAR_DIR=str(tmp_path), **{setting: value})
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "opcua_bridge"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr
