"""The Django side of bench/run.py: register the simulated fleet and create the benchmark's API user.

Run by bench/run.py in the benchmark's own environment (its temporary database and Redis), never
against a real installation:

    python bench/install.py --count 1000 --sim-url http://127.0.0.1:PORT

Prints one JSON line: {"token": ..., "created": ..., "seconds": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--sim-url", required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    import machines.registry
    import machines.services
    from mes.services import api_token_create
    from simulator.management.commands.simulate_fleet import register_fleet

    began = time.monotonic()
    # Every machine_create marks the registry dirty and the next get_registry() reloads every machine,
    # which makes registering N machines O(N^2) (minutes for 1000). Registration only needs the types'
    # and drivers' definitions, which do not change here, so this process keeps its first registry.
    registry = machines.registry.get_registry()
    with (
        mock.patch.object(machines.registry, "get_registry", lambda: registry),
        mock.patch.object(machines.services, "get_registry", lambda: registry),
    ):
        created, _updated = register_fleet(count=args.count, personality="mixed", base_url=args.sim_url)
    user = get_user_model().objects.create_user("bench", is_staff=True)
    _token, raw = api_token_create(user=user, name="bench", scopes=["*"])
    print(json.dumps({"token": raw, "created": created, "seconds": round(time.monotonic() - began, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
