"""Scenario: whoever holds the paper types or scans the code; the platform checks it is genuine."""

from __future__ import annotations

import base64

import pytest

from backend.pdf import verification as v

KEY = b"k" * 32
HASH = "sha256:" + "ab" * 32


def test_code_verifies_with_its_key_and_content_hash() -> None:
    code = v.make_code(key=KEY, content_hash=HASH)
    assert len(code) == 32 and set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert v.verify_code(key=KEY, code=code, content_hash=HASH)


def test_wrong_key_amended_content_or_forged_signature_fail() -> None:
    code = v.make_code(key=KEY, content_hash=HASH)
    assert not v.verify_code(key=b"x" * 32, code=code, content_hash=HASH)
    assert not v.verify_code(key=KEY, code=code, content_hash=HASH.replace("ab", "ac", 1))
    flipped = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert not v.verify_code(key=KEY, code=flipped, content_hash=HASH)
    other_id = v.new_document_id() + code[16:]  # a signature moved onto another id
    assert not v.verify_code(key=KEY, code=other_id, content_hash=HASH)


def test_ids_are_random_80_bit_and_do_not_repeat() -> None:
    ids = {v.new_document_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(base64.b32decode(i)) == 10 for i in ids)


def test_typed_code_is_normalised() -> None:
    code = v.make_code(key=KEY, content_hash=HASH, document_id="ABCDEFGHIJKLMNOP")
    shown = v.display_code(code)
    assert shown.count("-") == 7 and shown.replace("-", "") == code
    assert v.verify_code(key=KEY, code=f"  {shown.lower()}  ", content_hash=HASH)
    # Digits that base32 leaves out are read as the letters they look like (0→O, 1→I, 8→B).
    typed = shown.replace("O", "0").replace("I", "1").replace("B", "8")
    assert v.verify_code(key=KEY, code=typed, content_hash=HASH)
    assert v.parse_code(typed).document_id == "ABCDEFGHIJKLMNOP"


@pytest.mark.parametrize("text", ["", "ABC", "A" * 31, "A" * 33, "9" * 32, "<script>" * 4, "A" * 100])
def test_malformed_codes_are_rejected(text: str) -> None:
    with pytest.raises(v.InvalidCode):
        v.parse_code(text)
    assert not v.verify_code(key=KEY, code=text, content_hash=HASH)


def test_bad_inputs_to_make_code() -> None:
    with pytest.raises(ValueError, match="key"):
        v.make_code(key=b"", content_hash=HASH)
    with pytest.raises(ValueError, match="hash"):
        v.make_code(key=KEY, content_hash="")
    with pytest.raises(v.InvalidCode):
        v.make_code(key=KEY, content_hash=HASH, document_id="lowercase-id-123")
