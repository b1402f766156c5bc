"""A TCP relay in front of a server whose connections can go silent.

`silence(marker)` plays a network path that drops every packet of a connection without
a reset (a Wi-Fi roam, a NAT entry gone, a frozen middlebox): both ends keep their
sockets open and hear nothing more, so neither gets an error. New connections go
through as before, like a browser's next attempt over a path that works.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

CHUNK = 64 * 1024
HEAD_BYTES = 64 * 1024  # what a connection keeps of its client's bytes, to find requests in


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    sent: bytearray = field(default_factory=bytearray)  # the client's first bytes
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def stop_pumping(self) -> None:
        for pump in self.pumps:
            pump.cancel()

    def close(self) -> None:
        self.stop_pumping()
        self.client.close()
        self.server.close()


class Relay:
    """`async with Relay(port) as relay`: 127.0.0.1:`relay.port` forwards to 127.0.0.1:`port`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._links: set[_Link] = set()
        self._silent: list[_Link] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for link in [*self._links, *self._silent]:
            link.close()
        await self._server.wait_closed()

    def silence(self, marker: bytes) -> int:
        """Every open connection whose client sent `marker` goes silent; how many did."""
        chosen = [link for link in self._links if marker in link.sent]
        for link in chosen:
            link.stop_pumping()  # nothing read, nothing forwarded, nothing closed
            self._links.discard(link)
            self._silent.append(link)
        return len(chosen)

    async def _accept(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        try:
            server_in, server_out = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_out.close()
            return
        link = _Link(client_out, server_out)
        self._links.add(link)
        link.pumps = [asyncio.create_task(self._pump(client_in, server_out, link, record=True)),
                      asyncio.create_task(self._pump(server_in, client_out, link, record=False))]

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, link: _Link,
                    record: bool) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(CHUNK):
                if record and len(link.sent) < HEAD_BYTES:
                    link.sent += data
                sink.write(data)
                await sink.drain()
        # One side ended: so does the other, as a working path would show it.
        if link in self._links:
            self._links.discard(link)
            link.close()
