"""What the console tells a person running Lab MES: the admin password file and the status block.

The generated admin password is printed once and also kept in ``var/admin-password`` (mode 0600, the
owner only), so it does not scroll away with the logs; ``manage.py bootstrap --reset-admin`` makes a
new one. ``manage.py up`` prints the status block last, again on Enter, and ``up --status`` on demand.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from jobs.demo import STUDENTS, demo_password_path
from machines.models import MachineConfig


def admin_password_path() -> Path:
    return settings.VAR_DIR / "admin-password"


def admin_password_write(*, username: str, password: str) -> Path:
    """Write ``username`` and ``password`` to the owner-only file (created 0600, never world-readable)."""
    path = admin_password_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode on open; make sure it is ours alone
        os.write(fd, f"username: {username}\npassword: {password}\n".encode())
    finally:
        os.close(fd)
    return path


def display_path(path: Path) -> str:
    """``var/admin-password`` inside the checkout, the absolute path elsewhere."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def up_state_path() -> Path:
    return settings.VAR_DIR / "up.json"


@dataclass(frozen=True)
class UpState:
    """What a running ``manage.py up`` serves, for ``up --status`` from another terminal."""

    base_url: str
    simulate: int
    pid: int

    def save(self) -> None:
        up_state_path().write_text(
            json.dumps({"base_url": self.base_url, "simulate": self.simulate, "pid": self.pid})
        )

    @classmethod
    def load(cls) -> UpState | None:
        try:
            data = json.loads(up_state_path().read_text())
        except FileNotFoundError:
            return None
        return cls(base_url=str(data["base_url"]), simulate=int(data["simulate"]), pid=int(data["pid"]))


def status_block(*, base_url: str, simulate: int = 0) -> str:
    """A short block: where to go, who to log in as and where that password is, how big the fleet is."""
    admins = list(
        get_user_model()
        .objects.filter(is_superuser=True, is_active=True)
        .values_list("username", flat=True)[:3]
    )
    password_file = admin_password_path()
    if admins and password_file.exists():
        login = f"{', '.join(admins)} (password in {display_path(password_file)})"
    elif admins:
        login = f"{', '.join(admins)} (new password: manage.py bootstrap --reset-admin)"
    else:
        login = "none yet: run manage.py bootstrap"
    machines = MachineConfig.objects.count()
    active = MachineConfig.objects.filter(active=True).count()
    fleet = f"{machines} machine{'s' if machines != 1 else ''} ({active} active)"
    if simulate:
        fleet += f", {simulate} simulated printers"
    students = [name for name, _, _ in STUDENTS]
    demo = ""
    if demo_password_path().exists() and get_user_model().objects.filter(username__in=students).exists():
        demo = f"    Students     {', '.join(students)} (password in {display_path(demo_password_path())})\n"
    return (
        "Lab MES is running:\n"
        f"    Log in       {base_url}/accounts/login/\n"
        f"    Fleet        {base_url}/fleet/\n"
        f"    Jobs         {base_url}/jobs/\n"
        f"    Hallway      {base_url}/board/\n"
        f"    Dashboard    {base_url}/dashboard/\n"
        f"    Admin        {base_url}/admin/\n"
        f"    API docs     {base_url}/api/docs/\n"
        f"    Admin login  {login}\n"
        f"{demo}"
        f"    Fleet size   {fleet}\n"
    )
