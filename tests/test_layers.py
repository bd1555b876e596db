"""Dependencies flow one way: a module may import its own app, apps of lower layers, and nothing else.

The table below is the architecture. Read it bottom-up: the ground floor of ``mes`` (engine, leases,
cache lock, poller, supervisor, health, API auth) imports no app; the plugin framework sits on it;
``machines`` on that; and so on up to the project shell, the only code that knows every app. Apps in
the same layer are independent of each other (neither imports the other).

NEWCOMERS: a new app must be added to ``LAYERS`` (and only once it exists), else this test fails.
Lower apps that need to react to higher ones send a signal or offer a registry callback instead of
importing them. Every import counts, also those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. Entries are modules or packages; a module belongs to the longest entry it is under.
LAYERS: list[list[str]] = [
    # The ground floor: imports no app (mes.celery is the task engine's Celery app; it knows apps only
    # as strings in the settings).
    ["mes"],
    ["plugins", "events"],  # the plugin framework; the one outbox of domain events
    ["machines"],
    ["drivers", "simulator", "materials", "policies"],  # policies: trainings, hours, quotas
    ["maintenance"],  # its admin reuses the materials badges
    ["jobs"],
    ["federation", "opcua", "notifications", "webhooks"],
    ["metrics"],  # reads every feature's models (outbox depths, delivery counts)
    # The project shell: settings, root URLs, WSGI/ASGI, the home page, `up` and `bootstrap` (and the
    # console output they share).
    [
        "mes.settings",
        "mes.urls",
        "mes.wsgi",
        "mes.asgi",
        "mes.views",
        "mes.console",
        "mes.management.commands.up",
        "mes.management.commands.bootstrap",
    ],
]
# (importing app, imported app) -> the one module of the importing app allowed to make that import.
GATEWAYS: dict[tuple[str, str], str] = {
    ("federation", "jobs"): "federation.jobs_gateway",  # every federation -> jobs call goes through it
}
# Top-level directories that are not apps (their imports are not checked).
NOT_APPS = {"tests", "bench", "examples", "docs", "templates", "var", "lab_mes.egg-info"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    path: Path
    line: int
    target: str  # the imported module (or module.name for `from x import name`)

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.module} imports {self.target}"


def layer_entries() -> dict[str, int]:
    return {entry: index for index, layer in enumerate(LAYERS) for entry in layer}


def owner(module: str, entries: dict[str, int]) -> str | None:
    """The table entry a module belongs to (the longest one it is equal to or under)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in entries:
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[Import]:
    module = module_name(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        found += imports_of_node(node, module, path)
    return found


def imports_of_node(node: ast.AST, module: str, path: Path) -> list[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if isinstance(node, ast.Import):
        return [Import(module, path, node.lineno, alias.name) for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, node.module] if node.module else base)
        else:
            source = node.module or ""
        # `from mes import settings` imports mes.settings: keep the name so it can be placed.
        return [Import(module, path, node.lineno, f"{source}.{alias.name}") for alias in node.names]
    return []


def app_packages() -> list[str]:
    return sorted(
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in NOT_APPS and not path.parent.name.startswith(".")
    )


def all_imports() -> list[Import]:
    found = []
    for package in app_packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            found += imports_of(path)
    return found


def violations(found: list[Import], entries: dict[str, int]) -> list[str]:
    problems = []
    for imp in found:
        source = owner(imp.module, entries)
        target = owner(imp.target, entries)
        if target is None or source is None:
            continue  # not an app: the standard library, Django, a library
        same_package = source.split(".")[0] == target.split(".")[0]
        if same_package and entries[target] == entries[source]:
            continue  # the app's own code
        if entries[target] > entries[source]:
            problems.append(f"{imp}: {target} is in a higher layer than {source}")
            continue
        gateway = GATEWAYS.get((source, target))
        if gateway and imp.module != gateway:
            problems.append(f"{imp}: {source} reaches {target} only through {gateway}")
        elif entries[target] == entries[source]:
            problems.append(f"{imp}: {source} and {target} share a layer and must stay independent")
    return problems


def test_every_app_is_in_the_layer_table():
    entries = layer_entries()
    missing = [package for package in app_packages() if package not in entries]
    assert not missing, (
        f"{missing} not in the layer table of tests/test_layers.py: add each to the layer it belongs to"
    )


def test_no_lower_app_imports_a_higher_one():
    problems = violations(all_imports(), layer_entries())
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def unexplained_function_imports(paths: list[Path], entries: dict[str, int]) -> list[str]:
    """App imports inside a function with no comment on their line or the line above (why not at the top:
    a cycle, the app registry not ready yet, an optional dependency...). ``AppConfig.ready`` needs none."""
    return [problem for path in paths for problem in _unexplained_in(path, entries)]


def _function_imports(node: ast.AST, function: ast.AST | None = None) -> list[tuple[ast.AST, ast.AST]]:
    """(import, enclosing function) for every import statement inside a function or method."""
    found = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            found += _function_imports(child, child)
            continue
        if function is not None and isinstance(child, ast.Import | ast.ImportFrom):
            found.append((child, function))
        found += _function_imports(child, function)
    return found


def _unexplained_in(path: Path, entries: dict[str, int]) -> list[str]:
    text = path.read_text()
    lines = ["", *text.splitlines()]  # 1-based
    module = module_name(path)
    problems = []
    for node, function in _function_imports(ast.parse(text, filename=str(path))):
        if function.name == "ready":
            continue  # Django's place for imports that need the app registry
        if not any(owner(imp.target, entries) for imp in imports_of_node(node, module, path)):
            continue  # the standard library or a third-party package
        said = "#" in lines[node.lineno] or "#" in lines[node.end_lineno]
        if not said and not lines[node.lineno - 1].strip().startswith("#"):
            problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno].strip()}")
    return problems


def app_source_files() -> list[Path]:
    return [
        path
        for package in app_packages()
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.relative_to(ROOT).parts
    ]


def test_an_import_inside_a_function_says_why_it_is_not_at_the_top():
    problems = unexplained_function_imports(app_source_files(), layer_entries())
    assert not problems, (
        "app imports inside functions without a comment saying why (a cycle, app registry not ready, an "
        "optional dependency); move them to the top or add the reason:\n" + "\n".join(problems)
    )


# -- the checker itself ---------------------------------------------------------------------------
@pytest.fixture
def app_tree(tmp_path, monkeypatch):
    """A throwaway project tree, so the checker is shown to catch what it must."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)

    def write(relative: str, text: str = "") -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path).parents:
            init = tmp_path / parent / "__init__.py"
            if parent != Path(".") and not init.exists():
                init.write_text("")
        path.write_text(text)
        return path

    return write


def test_a_back_edge_is_reported_naming_the_offending_import(app_tree):
    app_tree("machines/registry.py", "import os\nfrom machines import state\n")
    app_tree("machines/state.py", "def f():\n    from jobs.models import Job  # a function-level import\n")
    app_tree("jobs/models.py", "from machines.registry import get\nfrom . import states\n")
    app_tree("jobs/states.py")
    problems = violations(all_imports(), layer_entries())
    assert problems == [
        "machines/state.py:2: machines.state imports jobs.models.Job: jobs is in a higher layer than machines"
    ]


def test_siblings_stay_independent_and_the_shell_may_import_anything(app_tree):
    app_tree("federation/views.py", "from opcua import signals\n")
    app_tree("mes/urls.py", "from federation import views\nfrom mes import views as home, engine\n")
    app_tree("mes/engine.py", "from mes import urls\n")
    problems = violations(all_imports(), layer_entries())
    assert problems == [
        "federation/views.py:1: federation.views imports opcua.signals: federation and opcua share a layer "
        "and must stay independent",
        "mes/engine.py:1: mes.engine imports mes.urls: mes.urls is in a higher layer than mes",
    ]


def test_federation_reaches_jobs_only_through_its_gateway(app_tree):
    app_tree("federation/jobs_gateway.py", "from jobs.models import Job\n")
    app_tree(
        "federation/services/inbox.py", "from federation.jobs_gateway import Job\nfrom jobs import states\n"
    )
    problems = violations(all_imports(), layer_entries())
    assert problems == [
        "federation/services/inbox.py:2: federation.services.inbox imports jobs.states: federation reaches jobs "
        "only through federation.jobs_gateway"
    ]


def test_an_app_missing_from_the_table_fails(app_tree):
    app_tree("jobs/models.py")
    app_tree("gizmos/models.py")
    assert [package for package in app_packages() if package not in layer_entries()] == ["gizmos"]
    with pytest.raises(AssertionError, match=r"\['gizmos'\] not in the layer table"):
        test_every_app_is_in_the_layer_table()


def test_an_unexplained_import_inside_a_function_is_reported_with_file_and_line(app_tree):
    app_tree(
        "jobs/apps.py",
        "class JobsConfig:\n    def ready(self):\n        from jobs import receivers\n",
    )
    app_tree(
        "jobs/services.py",
        "def a():\n    import json\n    from machines.models import Machine\n\n"
        "def b():\n    from jobs.models import Job  # inside: jobs.models imports this module (cycle)\n\n"
        "def c():\n    # inside: app registry not ready at import time\n    from machines import state\n\n"
        "def d():\n    from . import receivers\n",
    )
    assert unexplained_function_imports(app_source_files(), layer_entries()) == [
        "jobs/services.py:3: from machines.models import Machine",
        "jobs/services.py:13: from . import receivers",
    ]
