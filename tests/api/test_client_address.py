"""The client's address behind reverse proxies (issue 15, item 6): X-Forwarded-For is believed only
when the TCP peer is a trusted proxy (YUNYING_TRUSTED_PROXIES), and then the right-most address that is
not itself a trusted proxy is the client — what the proxy nearest to the client saw. Entries further
left were written by the client and are ignored (spoofable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import ConfigError, load_settings
from backend.proxies import client_address, parse_trusted, proxy_request_id

TRUSTED = parse_trusted("10.0.0.0/8, 192.0.2.7 2001:db8::/32")


def _scope(peer: str | None, *xff: str) -> dict[str, object]:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in xff]
    return {"type": "http", "client": (peer, 50000) if peer else None, "headers": headers}


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    # No trusted proxy configured, or an untrusted peer: the header is the client's own words, ignored.
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
    ("203.0.113.9", [], "203.0.113.9"),
    # A trusted proxy in front: the address it saw.
    ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
    ("10.1.2.3", [" 198.51.100.1 "], "198.51.100.1"),
    # A client that forges the header: the proxy appends the real address; the forged ones stay left.
    ("10.1.2.3", ["1.1.1.1, 8.8.8.8, 198.51.100.1"], "198.51.100.1"),
    # Two trusted proxies (CDN edge → nginx): skip both, from the right.
    ("10.1.2.3", ["1.1.1.1, 198.51.100.1, 192.0.2.7"], "198.51.100.1"),
    ("10.1.2.3", ["1.1.1.1, 198.51.100.1", "192.0.2.7"], "198.51.100.1"),  # two header lines: one list
    # Every hop trusted: the left-most (the client is inside the trusted network).
    ("10.1.2.3", ["10.9.9.9, 192.0.2.7"], "10.9.9.9"),
    # A trusted peer without the header: the peer itself.
    ("10.1.2.3", [], "10.1.2.3"),
    # Garbage where a proxy should have written an address: never believed, the nearest trusted hop.
    ("10.1.2.3", ["198.51.100.1, not-an-ip"], "10.1.2.3"),
    ("10.1.2.3", ["198.51.100.1, , 192.0.2.7"], "192.0.2.7"),
    # IPv6, bracketed and with ports as some proxies write them; IPv4-mapped IPv6 peers.
    ("2001:db8::1", ["2001:db9::5"], "2001:db9::5"),
    ("10.1.2.3", ["[2001:db9::5]:4711"], "2001:db9::5"),
    ("10.1.2.3", ["198.51.100.1:4711"], "198.51.100.1"),
    ("::ffff:10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
    # No peer (a unix socket): nothing to trust.
    (None, ["198.51.100.1"], None),
])
def test_right_most_untrusted_address(peer: str | None, xff: list[str], expected: str | None) -> None:
    assert client_address(_scope(peer, *xff), trusted=TRUSTED) == expected


def test_nothing_is_trusted_by_default() -> None:
    assert client_address(_scope("127.0.0.1", "198.51.100.1"), trusted=parse_trusted("")) == "127.0.0.1"


def test_the_setting_is_read_and_a_bad_entry_is_named(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, trusted_proxies="127.0.0.1, 10.0.0.0/8")
    assert [str(n) for n in settings.trusted_networks] == ["127.0.0.1/32", "10.0.0.0/8"]
    with pytest.raises(ConfigError, match="YUNYING_TRUSTED_PROXIES"):
        load_settings(data_dir=tmp_path, trusted_proxies="10.0.0.0/8, nginx.internal")


@pytest.mark.parametrize(("peer", "ids", "expected"), [
    ("10.1.2.3", ["0123456789abcdef0123456789abcdef"], "0123456789abcdef0123456789abcdef"),  # nginx's $request_id
    ("203.0.113.9", ["0123456789abcdef0123456789abcdef"], None),  # not our proxy: the client's own words
    ("10.1.2.3", [], None),
    ("10.1.2.3", ["short"], None),
    ("10.1.2.3", ["x" * 65], None),
    ("10.1.2.3", ["0123456789abcdef\nInjected: 1"], None),
    ("10.1.2.3", ["0123456789abcdef", "fedcba9876543210"], None),  # two: which one the proxy wrote is unknown
    (None, ["0123456789abcdef"], None),
])
def test_the_request_id_of_a_trusted_proxy_only(peer: str | None, ids: list[str], expected: str | None) -> None:
    """The front proxy's id names a request across the nodes it is sent to (a resend after a node died):
    believed only from a trusted proxy, which replaces whatever the client sent."""
    scope = {"type": "http", "client": (peer, 50000) if peer else None,
             "headers": [(b"x-request-id", value.encode("latin-1")) for value in ids]}
    assert proxy_request_id(scope, trusted=TRUSTED) == expected
