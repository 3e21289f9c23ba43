"""Verification codes printed on every PDF (pure functions, no I/O).

A code is ``ID + SIG``:

- ``ID``: 80 random bits (``secrets``), 16 characters of RFC 4648 base32. Unguessable, so the
  public page ``/v/{code}`` cannot be enumerated; the server stores the document under this id.
- ``SIG``: HMAC-SHA256 (RFC 2104) keyed with a server secret over the id and the document's
  content hash, truncated to 80 bits (16 base32 characters). RFC 2104 §5 allows truncation to no
  less than 80 bits. It binds the paper to *this* content: a code copied onto a forged document
  still verifies, but the /v page then shows the platform's own copy of the key facts to compare.

Printed form groups the 32 characters by four (``ABCD-EFGH-…``) for reading aloud or typing;
parsing is case-insensitive, ignores separators and maps the digits that RFC 4648 base32 leaves
out to their look-alike letters (0→O, 1→I, 8→B), since people retype codes from paper.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

ID_BYTES = 10  # 80 bits → exactly 16 base32 characters, no padding
SIG_BYTES = 10  # 80-bit truncated HMAC-SHA256 (RFC 2104 §5)
ID_CHARS = 16
CODE_CHARS = 32
_DOMAIN = b"yunying/pdf-verification/v1"
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})
_SEPARATORS = str.maketrans("", "", "- \t")


class InvalidCode(ValueError):
    """The text is not a well-formed verification code (says nothing about authenticity)."""


@dataclass(frozen=True, slots=True)
class ParsedCode:
    document_id: str
    signature: str

    @property
    def compact(self) -> str:
        return self.document_id + self.signature


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _signature(*, key: bytes, document_id: str, content_hash: str) -> str:
    if not key:
        raise ValueError("verification key must not be empty")
    if not content_hash or "\x00" in content_hash:
        raise ValueError("content hash must be a non-empty text without NUL")
    # NUL-separated fields (neither base32 nor the hash contains NUL): no ambiguity between
    # (id, hash) pairs; the domain tag keeps these MACs apart from any other use of the secret.
    message = b"\x00".join((_DOMAIN, document_id.encode("ascii"), content_hash.encode("utf-8")))
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return _b32(digest[:SIG_BYTES])


def new_document_id() -> str:
    return _b32(secrets.token_bytes(ID_BYTES))


def make_code(*, key: bytes, content_hash: str, document_id: str | None = None) -> str:
    """A fresh code (compact form, 32 characters) for a document with ``content_hash``."""
    doc_id = document_id if document_id is not None else new_document_id()
    if len(doc_id) != ID_CHARS or not set(doc_id) <= _ALPHABET:
        raise InvalidCode("document id must be 16 characters of RFC 4648 base32")
    return doc_id + _signature(key=key, document_id=doc_id, content_hash=content_hash)


def parse_code(text: str) -> ParsedCode:
    """Normalise a typed or scanned code; raise InvalidCode if it cannot be one."""
    if len(text) > 64:
        raise InvalidCode("too long")
    compact = text.strip().upper().translate(_SEPARATORS).translate(_LOOKALIKES)
    if len(compact) != CODE_CHARS or not set(compact) <= _ALPHABET:
        raise InvalidCode("not a verification code")
    return ParsedCode(document_id=compact[:ID_CHARS], signature=compact[ID_CHARS:])


def verify_code(*, key: bytes, code: str, content_hash: str) -> bool:
    """True when ``code`` was made with ``key`` for a document with ``content_hash``."""
    try:
        parsed = parse_code(code)
    except InvalidCode:
        return False
    expected = _signature(key=key, document_id=parsed.document_id, content_hash=content_hash)
    return hmac.compare_digest(expected, parsed.signature)


def display_code(code: str) -> str:
    """``ABCDEFGH…`` → ``ABCD-EFGH-…`` for print."""
    compact = parse_code(code).compact
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))
