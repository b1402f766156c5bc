"""The wheel is a working install: built, installed in a fresh venv, served from elsewhere.

Offline and quick: the wheel is built without build isolation (the test extras bring
setuptools) and installed with --no-deps; the fresh venv borrows the dependencies from
this venv's site-packages through a .pth line. barrage's own code comes only from the
wheel: the checkout is neither the working directory nor on the path, and the editable
install's hooks are not run (a .pth file in a borrowed directory is never processed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from server.store.schema import head
from tests.test_cli import free_port

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "server", "bot", "screen_web")


def _ignore_caches(path: Path) -> dict[str, object]:
    return {"ignore": shutil.ignore_patterns("__pycache__")} if path.is_dir() else {}


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv holding the wheel; returns its bin directory and a clean environment."""
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from a copy: an in-tree build would leave build/ in the checkout, whose stale
    # files a later wheel could pick up.
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **_ignore_caches(ROOT / name))
    run(sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--no-build-isolation", "-q",
        "-w", tmp / "dist", cwd=tmp)
    [wheel] = (tmp / "dist").glob("barrage-*.whl")
    target = tmp / "venv"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel,
        cwd=tmp)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp).strip())
    (site / "zz_borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BARRAGE_", "VIRTUAL_ENV"))}
    return target / "bin", env


def test_the_code_comes_from_the_wheel(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    where = run(bin_dir / "python", "-c", "import server, bot, screen_web; "
                "print(server.__file__, bot.__file__, screen_web.__file__)", cwd=tmp_path, env=env)
    venv_dir = str(bin_dir.parent)
    assert all(path.startswith(venv_dir) for path in where.split()), where


def test_version(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    assert run(bin_dir / "barrage", "--version", cwd=tmp_path, env=env).strip() == "barrage 0.1.0"


def test_the_installed_migrations_upgrade_a_database(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The migrations ship in the wheel: Alembic finds them from any directory."""
    bin_dir, env = installed
    assert run(bin_dir / "barrage", "db", "upgrade", cwd=tmp_path, env=env).strip() == f"{head()} (head)"
    assert run(bin_dir / "barrage", "db", "current", cwd=tmp_path, env=env).strip() == f"{head()} (head)"
    assert (tmp_path / "barrage.db").exists()


@pytest.fixture
async def served(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> AsyncIterator[str]:
    bin_dir, env = installed
    port = free_port()
    env = {**env, "BARRAGE_SERVER_ADMIN_TOKEN": "packaging-test-token", "BARRAGE_SERVER_PORT": str(port),
           "BARRAGE_SERVER_HOST": "127.0.0.1"}
    proc = await asyncio.create_subprocess_exec(
        bin_dir / "barrage", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if proc.returncode is not None:
                    output = await proc.stdout.read()  # type: ignore[union-attr]
                    raise AssertionError(f"barrage serve exited {proc.returncode}: {output.decode()}")
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)


async def test_the_installed_server_serves_its_pages(served: str) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/screen", "/static/screen.js", "/send", "/moderate", "/static/common.css"):
            async with http.get(served + path) as resp:
                assert resp.status == 200, path
        async with http.get(served + "/screen") as resp:
            assert "screen.js" in await resp.text()
