"""Object keys that are functions of content (content addresses): nothing to store, nothing to look up."""

from __future__ import annotations


def original_key(sha256: str) -> str:
    """An original DICOM file by the SHA-256 of its bytes: identical bytes share one object, different
    bytes never collide; two levels of 256 folders keep a local directory's listings small."""
    return f"dicom/{sha256[:2]}/{sha256[2:4]}/{sha256}"
