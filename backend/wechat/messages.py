"""The message endpoint's core: signature checks, safe-mode decryption, defensive XML, events.

Docs: 接入指南 (server URL verification: signature = SHA1 of sorted token, timestamp, nonce),
消息加解密说明 (safe mode: msg_signature = SHA1 of sorted token, timestamp, nonce, Encrypt; AES-256-CBC
body, wechatpy's WeChatCrypto), 接收事件推送 (subscribe / unsubscribe / SCAN / CLICK) and
被动回复用户消息 (answer within 5 seconds; "success" or empty means no reply; WeChat retries 3 times,
de-duplicate by MsgId, events by FromUserName + CreateTime).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from backend.access import audit
from backend.access.principals import AccountPrincipal
from backend.auth.models import Account
from backend.clock import utcnow
from backend.config import Settings
from backend.crypto import constant_time_equal
from backend.errors import BadRequest, Forbidden, PayloadTooLarge
from backend.wechat.models import InboundMessage

MAX_BODY_BYTES = 64 * 1024  # WeChat's pushes are a few KB
TIMESTAMP_WINDOW_SECONDS = 300
_FORBIDDEN_XML = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def sha1_signature_ordered(*parts: str) -> str:
    """JS-SDK signature: ``key=value`` pairs already in ASCII order, joined with ``&``."""
    return hashlib.sha1("&".join(parts).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def check_timestamp(timestamp: str, *, now: float | None = None) -> None:
    try:
        value = int(timestamp)
    except (TypeError, ValueError):
        raise BadRequest("bad timestamp", code="wechat-timestamp") from None
    if abs((now or time.time()) - value) > TIMESTAMP_WINDOW_SECONDS:
        raise BadRequest("stale timestamp", code="wechat-timestamp")


def verify_url(settings: Settings, *, signature: str, timestamp: str, nonce: str) -> None:
    """GET verification (接入指南): constant-time comparison of the SHA1 signature."""
    expected = sha1_signature(settings.wechat_token, timestamp, nonce)
    if not signature or not constant_time_equal(expected, signature.lower()):
        raise Forbidden("bad signature", code="wechat-signature")


def parse_xml(raw: bytes) -> dict[str, Any]:
    """XML from outside: no DOCTYPE/ENTITY (entity expansion, XXE), bounded size, one <xml> root."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("message too large", code="wechat-too-large")
    if _FORBIDDEN_XML.search(raw):
        raise BadRequest("XML with a DOCTYPE or ENTITY is refused", code="wechat-xml-doctype")
    try:
        doc = xmltodict.parse(raw, disable_entities=True)
    except (ExpatError, ValueError, TypeError, LookupError):  # LookupError: encoding="klingon" / "rot13"
        raise BadRequest("malformed XML", code="wechat-xml") from None
    body = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(body, dict):
        raise BadRequest("malformed XML", code="wechat-xml")
    return body


def decrypt(settings: Settings, *, raw: bytes, msg_signature: str, timestamp: str, nonce: str) -> dict[str, Any]:
    outer = parse_xml(raw)
    encrypted = outer.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise BadRequest("safe mode requires <Encrypt>", code="wechat-xml")
    expected = sha1_signature(settings.wechat_token, timestamp, nonce, encrypted)
    if not msg_signature or not constant_time_equal(expected, msg_signature.lower()):
        raise Forbidden("bad signature", code="wechat-signature")
    crypto = WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)
    try:
        inner = crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, timestamp, nonce)
    except (InvalidSignatureException, InvalidAppIdException):
        raise Forbidden("bad signature or appid", code="wechat-signature") from None
    except (ValueError, TypeError, IndexError, KeyError):  # base64 / padding / unicode / XML shape
        raise BadRequest("undecryptable message", code="wechat-xml") from None
    raw_inner = inner.encode() if isinstance(inner, str) else bytes(inner)
    return parse_xml(raw_inner)


@dataclass(frozen=True, slots=True)
class Handled:
    duplicate: bool
    event: str


def dedup_key(msg: dict[str, Any]) -> str:
    if msg.get("MsgId"):
        return f"msg:{msg['MsgId']}"[:160]
    return f"evt:{msg.get('FromUserName', '')}:{msg.get('CreateTime', '')}"[:160]


def handle(session: Session, *, msg: dict[str, Any]) -> Handled:
    openid = str(msg.get("FromUserName") or "")[:128]
    msg_type = str(msg.get("MsgType") or "")
    event = str(msg.get("Event") or msg_type)[:32]
    if not openid:
        raise BadRequest("no FromUserName", code="wechat-xml")
    try:
        with session.begin_nested():
            session.add(InboundMessage(dedup_key=dedup_key(msg), event=event, openid=openid))
    except IntegrityError:
        return Handled(duplicate=True, event=event)
    if msg_type == "event" and event.lower() in ("subscribe", "unsubscribe"):
        account = session.exec(select(Account).where(Account.openid == openid)).first()
        if account is None and event.lower() == "subscribe":
            account = Account(openid=openid)
        if account is not None:
            account.subscribed = event.lower() == "subscribe"
            account.subscribed_changed_at = utcnow()
            session.add(account)
            session.flush()
            audit.record(
                session, principal=AccountPrincipal(account.id), action=audit.UPDATE,
                event_type=f"wechat.{event.lower()}", object_type="account", object_id=account.id,
            )
    # SCAN (a parameterised QR code) and CLICK (a menu key) are recorded by the dedup row; the menu's
    # entries are "view" buttons that open the app, so there is nothing to answer.
    return Handled(duplicate=False, event=event)
