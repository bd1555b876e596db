"""Real processes: a plugin setting saved in one process is read by another, without a restart,
within about a second (the generation moves; the reader's cache reloads)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.machines.test_multiprocess import ROOT, SETUP, run, shared_env  # noqa: F401 - fixture


def test_a_setting_saved_in_one_process_is_read_by_another_within_a_second(shared_env):  # noqa: F811 - the imported fixture
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SETUP
            + textwrap.dedent(
                """
                from plugins.registry import get_plugin_registry
                plugin = get_plugin_registry().plugins["folder-labels"].plugin
                print("ready", plugin.get_setting("LABEL_FOOTER"), flush=True)
                deadline = time.time() + 30
                while time.time() < deadline:
                    if plugin.get_setting("LABEL_FOOTER") == "Lab 7":
                        print("seen", time.time(), flush=True)
                        break
                    time.sleep(0.01)
                """
            ),
        ],
        cwd=ROOT,
        env=shared_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout.readline().split() == ["ready", "None"], watcher.stderr.read()
        out = run(
            shared_env,
            """
            from plugins.services import plugin_setting_set
            plugin_setting_set(slug="folder-labels", key="LABEL_FOOTER", value="Lab 7")
            print("changed", time.time(), flush=True)
            """,
        )
        changed = float(out.split()[1])
        line = watcher.stdout.readline().split()
        assert line and line[0] == "seen", watcher.stderr.read()
        assert float(line[1]) - changed < 1.0
        assert watcher.wait(timeout=30) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
