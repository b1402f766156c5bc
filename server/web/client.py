"""Who is asking: the client's address behind trusted proxies, and its network.

`server.web.api.client_address` is this function (re-exported there): the one
place that decides a request's address, for rate limits and stream caps alike.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from server.web.keys import CONFIG


def client_address(request: web.Request) -> str:
    """The sender's address. Behind `server.forwarded_hops` trusted proxies it is that
    many entries from the right of X-Forwarded-For, read across every header line (a
    proxy may append a line of its own rather than extend the client's): the entries
    left of those are whatever the client chose to send. Too few entries, or one that
    is not an IP address, falls back to the peer address."""
    hops = request.app[CONFIG].server.forwarded_hops
    if hops:
        lines = request.headers.getall("X-Forwarded-For", [])
        forwarded = [a.strip() for line in lines for a in line.split(",") if a.strip()]
        if len(forwarded) >= hops and (address := _parse_ip(forwarded[-hops])):
            return address
    return _parse_ip(request.remote or "") or request.remote or "unknown"


def _parse_ip(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 client
    return str(address)


def network_of(address: str) -> str:
    """What one sender's address stands for: the address itself, or its /64 for IPv6,
    since one IPv6 client may use any address in its /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
