"""Small cryptographic helpers shared by every domain.

- Identifiers that must be looked up but never stored in clear (resident ID numbers, phone numbers):
  AES-256-GCM ciphertext (random 96-bit nonce, NIST SP 800-38D) plus an HMAC-SHA256 blind index.
- Secrets that are only ever compared (share tokens, API keys, access codes, OTPs): argon2 hashes via
  the passlib API, plus a fast SHA-256 lookup digest for high-entropy tokens so that a token can be
  found by index before its argon2 hash is checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from passlib.context import CryptContext

_NONCE_BYTES = 12
_pwd = CryptContext(schemes=["argon2"], deprecated="auto")


def encrypt(*, key: bytes, plaintext: str, associated_data: bytes = b"") -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key[:32]).encrypt(nonce, plaintext.encode(), associated_data)


def decrypt(*, key: bytes, ciphertext: bytes, associated_data: bytes = b"") -> str:
    nonce, body = ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:]
    return AESGCM(key[:32]).decrypt(nonce, body, associated_data).decode()


def blind_index(*, key: bytes, value: str, purpose: str) -> str:
    """Deterministic keyed digest for equality lookup; ``purpose`` separates the index domains."""
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def hash_secret(secret: str) -> str:
    return _pwd.hash(secret)


def verify_secret(secret: str, hashed: str) -> bool:
    try:
        return _pwd.verify(secret, hashed)
    except (ValueError, TypeError):
        return False


def lookup_digest(token: str) -> str:
    """SHA-256 of a high-entropy token, used only to find its row (the row also keeps an argon2 hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def random_token(prefix: str, *, nbytes: int = 24) -> str:
    """A prefixed random token (``nbytes`` * 8 bits of entropy), URL-safe."""
    body = base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=")
    return f"{prefix}_{body}"


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(left, right)
