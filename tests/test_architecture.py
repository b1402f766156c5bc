"""The arrows point inward: the core imports no transport, bot/ calls only the core, and no
two modules (or packages) import each other, `if TYPE_CHECKING:` imports included."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "server" / "core"
FORBIDDEN = ("aiohttp", "telegram", "slack_bolt", "slack_sdk", "sqlmodel", "sqlalchemy", "redis",
             "asyncpg", "aiosqlite", "limits", "server.ratelimit", "server.web", "server.store",
             "server.bus", "server.app", "bot", "prometheus_client", "server.metrics")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # `from bot.telegram import handlers` imports the module bot.telegram.handlers
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def our_modules() -> dict[str, Path]:
    found = {}
    for package in ("bot", "server"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(group: Callable[[str], str] = lambda name: name) -> dict[str, set[str]]:
    """Module (or, through `group`, package) → what it imports of ours."""
    modules = our_modules()
    graph: dict[str, set[str]] = {group(name): set() for name in modules}
    for name, path in modules.items():
        imported = imported_modules(path)
        targets = {group(t) for t in imported if t in modules}
        graph[group(name)].update(targets - {group(name)})
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while (member := stack.pop()) != node:
                component.add(member)
            component.add(node)
            if len(component) > 1:
                found.append(component)

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    """bot, server.core (the inner ring both may use), or the rest of server."""
    if module.startswith("bot"):
        return "bot"
    return "server.core" if module.startswith("server.core") else "server"


def starting_with(names: Iterable[str], prefix: str) -> set[str]:
    return {n for n in names if n == prefix or n.startswith(prefix + ".")}


def test_core_imports_no_transport() -> None:
    files = list(CORE.glob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"


def test_bot_declares_its_own_settings() -> None:
    """The chat sections live in bot/; server/config.py composes them, not the reverse."""
    files = list((CORE.parents[1] / "bot").rglob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert not name.startswith("server.config"), f"{path.name} imports {name}"


def test_cycles_are_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_bot_modules() -> None:
    graph = import_graph()
    assert [c for c in cycles(graph) if starting_with(c, "bot")] == []


def test_no_import_cycle_between_bot_and_server_packages() -> None:
    assert [c for c in cycles(import_graph(package_of)) if "bot" in c] == []


def test_bot_imports_only_the_core_from_server() -> None:
    modules = our_modules()
    from_server = set()
    for name, path in modules.items():
        if name.startswith("bot"):
            from_server |= {t for t in imported_modules(path) & modules.keys() if package_of(t) == "server"}
    assert from_server == set()


def test_the_app_loads_no_chat_library_while_its_channels_are_off() -> None:
    script = (
        "import sys\n"
        "from server.app import create_app\n"
        "from server.config import load_config\n"
        "create_app(load_config(None, env={}))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'telegram', 'slack_bolt', 'slack_sdk'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
