"""deploy/nginx/barrage.conf, run by the real nginx in front of test nodes.

Only the addresses change: the upstream's server lines name the test nodes and
`listen` a free port. Everything else (buffering, timeouts, keep-alive,
next-upstream) is the shipped file, so the tests prove the file itself.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.server_process import free_port

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "deploy" / "nginx" / "barrage.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

MAIN = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{user}
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/barrage.conf;
}}
"""


def site_for(node_ports: list[int], port: int) -> str:
    """The shipped site file with the test's addresses in place of the examples."""
    text = SITE.read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in node_ports)
    text, upstream_lines = re.subn(r"(?m)^    server 127\.0\.0\.1:\d+ .*\n", "", text)
    assert upstream_lines, "the site file's upstream servers were not found"
    text = text.replace("upstream barrage {\n", "upstream barrage {\n" + servers, 1)
    text, listens = re.subn(r"(?m)^    listen 80;$", f"    listen 127.0.0.1:{port};", text)
    assert listens == 1, "the site file's listen line was not found"
    return text


@dataclass
class Nginx:
    workdir: Path
    node_ports: list[int]
    port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "barrage.conf").write_text(site_for(self.node_ports, self.port))
        # As root, nginx's workers would drop to `nobody`, who cannot use our temp dirs.
        user = "user root;" if _is_root() else ""
        (self.workdir / "nginx.conf").write_text(MAIN.format(prefix=self.workdir, user=user))
        self.proc = await asyncio.create_subprocess_exec(
            NGINX, "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf"), "-g", "daemon off;",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.wait_for(self._listening(), 20)

    async def _listening(self) -> None:
        while True:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"nginx exited: {self.errors()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)

    def errors(self) -> str:
        log = self.workdir / "error.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.url + path) as resp:
            return resp.status, await resp.text()


def _is_root() -> bool:
    import os

    return os.geteuid() == 0
