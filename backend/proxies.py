"""The client's network address, for the audit log and every rate limit — the one place it is decided.

Behind a reverse proxy (nginx, a load balancer, a CDN) the TCP peer is the proxy, and every doctor of a
hospital would share one address and one rate limit. ``X-Forwarded-For`` carries the address the proxy
saw, but anyone can send that header, so it is believed only when the TCP peer is a trusted proxy
(``YUNYING_TRUSTED_PROXIES``: IPs and CIDRs, none by default). Then the list is read from the right:
each trusted proxy appends the address it received the request from, so the right-most address that
is not itself a trusted proxy is the client; whatever stands further left was written by the client
and is ignored (the de-facto X-Forwarded-For rules, as in nginx's ``real_ip_recursive``; RFC 7239 §5.2
describes the same chain for ``Forwarded``, which is not read here). uvicorn runs with
``proxy_headers=False`` (cli.py), so nothing else rewrites the peer.

The same trust decides whose ``X-Request-Id`` is taken: the front proxy's (nginx ``$request_id``) names
one client request however often the proxy sends it, so a request sent again to a second node after the
first died carries the id of the first try (deploy/nginx/yunying.conf) — what lets a share open know it
is a resend (sharing/entry.py). From anyone else the header is ignored and the node makes its own id.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_PORT = re.compile(r"^\[(?P<v6>[^\]]+)\](?::\d+)?$|^(?P<v4>\d{1,3}(?:\.\d{1,3}){3}):\d+$")


@lru_cache(maxsize=8)
def parse_trusted(spec: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7 2001:db8::/32"`` → networks (comma or space separated). ValueError names
    the entry that is not an address or network."""
    networks = []
    for item in re.split(r"[,\s]+", spec.strip()):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    text = text.strip()
    found = _PORT.match(text)
    if found:  # "[2001:db8::1]:4711" or "198.51.100.1:4711": some proxies write the port too
        text = found.group("v6") or found.group("v4")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.1.2.3 is 10.1.2.3 (a dual-stack socket's IPv4 peer)
    return address


_REQUEST_ID = re.compile(r"[0-9A-Za-z._-]{8,64}")


def proxy_request_id(scope: Any, *, trusted: tuple[Network, ...] | None = None) -> str | None:
    """The front proxy's ``X-Request-Id`` for an ASGI ``scope`` when the TCP peer is a trusted proxy
    and the id is well formed (8–64 of ``[0-9A-Za-z._-]``), else None."""
    if trusted is None:
        settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
        trusted = getattr(settings, "trusted_networks", ())
    client = scope.get("client")
    peer = _address(str(client[0])) if client and client[0] else None
    if peer is None or not trusted or not _trusted(peer, trusted):
        return None
    given = [value.decode("latin-1").strip() for name, value in scope.get("headers") or ()
             if name.lower() == b"x-request-id"]
    return given[0] if len(given) == 1 and _REQUEST_ID.fullmatch(given[0]) else None


def _trusted(address: Address, networks: Iterable[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_address(scope: Any, *, trusted: tuple[Network, ...] | None = None) -> str | None:
    """The client's address for an ASGI ``scope`` (the TCP peer unless it is a trusted proxy; see the
    module docstring). ``trusted`` defaults to the application's setting."""
    if trusted is None:
        settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
        trusted = getattr(settings, "trusted_networks", ())
    client = scope.get("client")
    if not client or not client[0]:
        return None
    peer_text = str(client[0])
    peer = _address(peer_text)
    if peer is None or not trusted or not _trusted(peer, trusted):
        return str(peer) if peer is not None else peer_text
    hops = [part for name, value in scope.get("headers") or () if name.lower() == b"x-forwarded-for"
            for part in value.decode("latin-1").split(",")]
    nearest = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return str(nearest)  # a trusted proxy would have written an address: stop at the last one we trust
        if not _trusted(address, trusted):
            return str(address)
        nearest = address
    return str(nearest)  # every hop is a trusted proxy: the left-most one is the client
