"""Test-only crash injection for the fault tests (on PYTHONPATH only there; never in production).

``MES_TEST_CRASH_AT=package.module:function`` and ``MES_TEST_CRASH_DIR=/path``: the first
``MES_TEST_CRASH_TIMES`` (default 1) calls of that function, over all processes of the installation,
SIGKILL their own process on entry, as a power cut or the OOM killer would. Each kill leaves a file
``crash-<n>`` in the directory naming the process role and pid, so the test knows what died.
"""

from __future__ import annotations

import functools
import importlib.abc
import os
import signal
import sys

_TARGET = os.environ.get("MES_TEST_CRASH_AT", "")
_DIR = os.environ.get("MES_TEST_CRASH_DIR", "")


def _claim_a_crash() -> bool:
    for n in range(1, int(os.environ.get("MES_TEST_CRASH_TIMES", "1")) + 1):
        try:
            fd = os.open(os.path.join(_DIR, f"crash-{n}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.write(fd, f"{os.environ.get('MES_PROCESS_ROLE', '?')} {os.getpid()}".encode())
        os.close(fd)
        return True
    return False


def _wrap(func):
    @functools.wraps(func)
    def crashing(*args, **kwargs):
        if _claim_a_crash():
            os.kill(os.getpid(), signal.SIGKILL)
        return func(*args, **kwargs)

    return crashing


class _WrapOnImport(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, function: str) -> None:
        self.module, self.function = module, function

    def find_spec(self, name, path, target=None):
        if name != self.module:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module
        function = self.function

        def exec_and_wrap(module):
            exec_module(module)
            setattr(module, function, _wrap(getattr(module, function)))

        spec.loader.exec_module = exec_and_wrap
        return spec


if _TARGET and _DIR:
    _module, _function = _TARGET.split(":")
    sys.meta_path.insert(0, _WrapOnImport(_module, _function))
