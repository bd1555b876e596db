"""Django for the in-process benchmarks: a throw-away var/ and media directory, no developer .env."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def setup_django(prefix: str) -> Path:
    """Configure and set up Django before the script imports any app; returns the temporary directory."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
    os.environ.setdefault("MES_VAR_DIR", str(tmp))
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    os.environ.setdefault("MES_ENV_FILE", "/dev/null")
    import django

    django.setup()
    return tmp
