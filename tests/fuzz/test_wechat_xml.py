"""The WeChat message endpoint is reachable by anyone before the signature is checked: an XML declaration
naming an unknown or non-text codec must be a 400 problem+json, not a LookupError 500."""

from __future__ import annotations

import time

import httpx
import pytest

from backend.errors import BadRequest
from backend.wechat.messages import parse_xml

ENCODINGS = ["klingon", "rot13", "hex", "base64", "zlib", "bz2", "mbcs"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_parse_xml_refuses_unknown_or_non_text_codecs(encoding: str) -> None:
    raw = f'<?xml version="1.0" encoding="{encoding}"?><xml><Encrypt>a</Encrypt></xml>'.encode()
    with pytest.raises(BadRequest):
        parse_xml(raw)


def test_parse_xml_still_reads_a_plain_message() -> None:
    assert parse_xml(b'<?xml version="1.0" encoding="utf-8"?><xml><Encrypt>a</Encrypt></xml>') == {"Encrypt": "a"}


@pytest.mark.parametrize("encoding", ["klingon", "rot13"])
def test_callback_with_a_bogus_xml_encoding_is_400(client: httpx.Client, encoding: str) -> None:
    res = client.post(
        "/wechat/callback",
        params={"timestamp": str(int(time.time())), "nonce": "n", "encrypt_type": "aes", "msg_signature": "0"},
        content=f'<?xml version="1.0" encoding="{encoding}"?><xml><Encrypt>a</Encrypt></xml>'.encode(),
        headers={"content-type": "text/xml"},
    )
    assert res.status_code == 400, res.text[:300]
    assert res.headers["content-type"].startswith("application/problem+json")
