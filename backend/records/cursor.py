"""Opaque, signed timeline cursors.

A cursor is the last entry's ``sort_key`` plus a digest of the person and filters it was issued
for, signed with HMAC-SHA256 (RFC 2104) under the service's secret key. A cursor that was edited,
or replayed against another person or other filters, fails verification and is a 400: a client can
never steer the keyset query to rows it did not page to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from backend.errors import BadRequest

_PURPOSE = b"yunying.timeline.cursor.v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def scope_digest(*, person_id: str, filters: dict[str, str | None]) -> str:
    canonical = json.dumps({"p": person_id, "f": filters}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _PURPOSE + b"\x00" + payload, hashlib.sha256).digest()[:16]


def encode(*, key: bytes, scope: str, sort_key: str) -> str:
    payload = json.dumps({"s": scope, "k": sort_key}, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def decode(*, key: bytes, scope: str, cursor: str) -> str:
    """Returns the sort key to continue after, or raises BadRequest("invalid-cursor")."""
    invalid = BadRequest("The cursor is invalid; start again from the first page.",
                         zh="分页位置无效，请从第一页重新开始", code="invalid-cursor")
    body, _, sig = cursor.partition(".")
    if not body or not sig or len(cursor) > 512:
        raise invalid
    try:
        payload, mac = _unb64(body), _unb64(sig)
    except (ValueError, TypeError):
        raise invalid from None
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise invalid
    try:
        data = json.loads(payload)
    except ValueError:
        raise invalid from None
    if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("k"), str):
        raise invalid
    sort_key: str = data["k"]
    return sort_key
