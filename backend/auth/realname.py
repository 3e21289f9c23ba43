"""Binding by WeChat's real-name face verification (微信人脸核身) — the stronger path.

The page calls the JSAPI ``requestWxFacePictureVerify`` with the name and resident ID the user typed;
WeChat compares a live face with the citizen ID photo and answers a ``verify_result``. Here the
server asks WeChat for the verdict (``POST /cityservice/face/identify/getinfo``), which names the
openid that was verified and carries MD5 digests of the ID number and name, and binds only when
all of them agree with this account and what was typed. No phone is involved: a person whose
registered phone is stale (or was tampered with) can still bind, and no hospital key can change
what a face verification proves (DESIGN.md rule 7). Each ``verify_result`` is used once.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select
from wechatpy.exceptions import WeChatClientException

from backend.auth import binding
from backend.auth.models import Account, Binding
from backend.config import Settings
from backend.errors import BadRequest, NotFound, ServiceUnavailable
from backend.people.models import Person
from backend.people.resident_id import ResidentId
from backend.shared_state import SharedState
from backend.wechat.client import Credentials, WeChatUnavailable, api_base

MAX_AGE_S = 10 * 60  # a verification older than this proves nothing about who is at the phone now
GETINFO = "/cityservice/face/identify/getinfo"


def _md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()  # WeChat's digest, not ours


def _verdict(settings: Settings, credentials: Credentials, verify_result: str) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = credentials.call(
            lambda client: client.post(api_base(settings) + GETINFO, data={"verify_result": verify_result}))
    except WeChatClientException:
        raise _failed() from None
    except WeChatUnavailable:
        error = ServiceUnavailable("WeChat is unavailable.", zh="微信暂时无法连接", code="wechat-unavailable")
        error.headers = {"Retry-After": "30"}
        raise error from None
    return answer


def _failed() -> BadRequest:
    return BadRequest("The face verification did not confirm this identity.",
                      zh="实名核验未通过", code="realname-failed")


@dataclass(frozen=True, slots=True)
class Verified:
    """WeChat's verdict, checked: this openid's face matched this resident ID and name."""

    openid: str
    rid: ResidentId
    name: str


def verify(*, settings: Settings, state: SharedState, credentials: Credentials, openid: str, name: str,
           resident_id: str, verify_result: str) -> Verified:
    """Ask WeChat for the verdict and check it. Call it outside any database write transaction: the
    WeChat call may take seconds (on SQLite the simulator even writes to the same file)."""
    rid = binding._parse(resident_id)
    cleaned = binding._clean_name(name)
    info = _verdict(settings, credentials, verify_result)
    # Used once (claimed after WeChat answered: an outage does not burn the user's verification).
    if not state.claim_once(f"face-verify:{_md5(verify_result)}", ttl=timedelta(hours=1)):
        raise _failed()
    fresh = time.time() - float(info.get("finish_time") or 0) <= MAX_AGE_S
    if not (info.get("identify_ret") == 0 and info.get("openid") == openid and fresh
            and info.get("id_card_number_md5") == _md5(rid.number) and info.get("name_utf8_md5") == _md5(cleaned)):
        raise _failed()
    return Verified(openid=openid, rid=rid, name=cleaned)


def bind_verified(session: Session, *, settings: Settings, account_id: str, verified: Verified,
                  consent_version: str) -> Binding:
    binding.check_consent(consent_version)
    account = session.get(Account, account_id)
    if account is None or account.openid != verified.openid:
        raise _failed()
    person = session.exec(select(Person).where(
        Person.resident_id_index == binding._target_index(settings, verified.rid))).first()
    if person is None or person.name.strip() != verified.name:
        # The caller proved who they are: saying that no hospital registered them yet leaks nothing.
        raise NotFound("No hospital has registered you yet.", zh="尚无医院为您登记", code="person-not-registered")
    return binding.create_binding(session, account_id=account_id, person=person, consent_version=consent_version,
                                  method="wechat-face")
