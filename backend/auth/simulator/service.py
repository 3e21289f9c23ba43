"""The WeChat simulator's behaviour, after the real APIs' documents (cited per function). Its state
lives in the database (models.py) so every worker process sees the same codes, tokens and inbox.

Errors use WeChat's JSON shape ``{"errcode": N, "errmsg": "..."}`` with the real codes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from backend.auth.simulator.models import SimCode, SimCounter, SimFaceVerify, SimInbox, SimToken, SimUser
from backend.clock import aware, utcnow
from backend.config import Settings
from backend.db import insert_missing, upsert

CODE_TTL = timedelta(minutes=5)  # "code作为换取access_token的票据…5分钟未被使用自动过期"
TOKEN_TTL_SECONDS = 7200

# WeChat global return codes (全局返回码).
INVALID_CREDENTIAL = 40001
INVALID_APPID = 40013
INVALID_CODE = 40029
CODE_USED = 40163
CODE_EXPIRED = 42003
INVALID_SECRET = 40125
USER_REFUSED = 43101  # 用户拒绝接受消息
INVALID_OPENID = 40003


def err(code: int, message: str) -> dict[str, Any]:
    return {"errcode": code, "errmsg": f"{message} rid: {secrets.token_hex(4)}"}




def bump(session: Session, name: str) -> None:
    """Count one call. The counter row is the hottest row there is (every login's code exchange bumps
    the same one), and an UPDATE's row lock lasts until its transaction ends: bumped inside the
    request's transaction, every other exchange queued behind a lock held until that request's answer
    was serialized and committed — with each waiter holding a pooled connection and a worker thread,
    a rush of logins emptied both and the holder never got the thread it needed to commit (issue 18).
    So the bump commits on its own, before the request's transaction begins (every caller bumps
    first: the request holds no connection while it waits for the counter's lock)."""
    if session.in_transaction():  # a caller already inside its transaction: count within it
        upsert(session, SimCounter, values={"name": name, "value": 1}, keys=["name"],
               update={"value": SimCounter.value + 1})
        return
    with Session(session.get_bind()) as own:
        upsert(own, SimCounter, values={"name": name, "value": 1}, keys=["name"],
               update={"value": SimCounter.value + 1})
        own.commit()


def counters(session: Session) -> dict[str, int]:
    return {row.name: row.value for row in session.exec(select(SimCounter)).all()}


def ensure_user(session: Session, *, openid: str, nickname: str | None = None, listed: bool = False) -> SimUser:
    insert_missing(session, SimUser, keys=["openid"], values={
        "openid": openid, "nickname": nickname or openid, "unionid": f"union-{openid}", "listed": listed,
        "created_at": utcnow()})
    user = session.get(SimUser, openid, populate_existing=True)
    assert user is not None  # inserted above, or by whoever won the race
    if listed and not user.listed:
        user.listed = True
        session.add(user)
    return user


def listed_users(session: Session) -> list[SimUser]:
    return list(session.exec(select(SimUser).where(col(SimUser.listed).is_(True)).order_by(col(SimUser.openid))).all())


def issue_code(session: Session, *, openid: str, appid: str, scope: str, snapshot: bool) -> str:
    ensure_user(session, openid=openid)
    code = secrets.token_urlsafe(24)
    session.add(SimCode(code=code, openid=openid, appid=appid, scope=scope, snapshot=snapshot))
    return code


def exchange_code(session: Session, *, settings: Settings, appid: str, secret: str, code: str) -> dict[str, Any]:
    """/sns/oauth2/access_token (网页授权, 第二步: 通过code换取网页授权access_token)."""
    bump(session, "sns.oauth2.access_token")
    if appid != settings.wechat_appid:
        return err(INVALID_APPID, "invalid appid")
    if secret != settings.wechat_secret:
        return err(INVALID_SECRET, "invalid appsecret")
    row = session.get(SimCode, code) if code else None
    if row is None or row.appid != appid:
        return err(INVALID_CODE, "invalid code")
    if row.used_at is not None:
        return err(CODE_USED, "code been used")
    if utcnow() - aware(row.created_at) > CODE_TTL:
        return err(CODE_EXPIRED, "code expired")
    # Mark used with a conditional UPDATE: two workers exchanging the same code at once → one wins.
    token = secrets.token_urlsafe(32)
    won = session.execute(
        update(SimCode).where(col(SimCode.code) == code, col(SimCode.used_at).is_(None)).values(
            used_at=utcnow(), sns_token=token
        )
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return err(CODE_USED, "code been used")
    body: dict[str, Any] = {
        "access_token": token,
        "expires_in": TOKEN_TTL_SECONDS,
        "refresh_token": secrets.token_urlsafe(32),
        "openid": row.openid,
        "scope": row.scope,
    }
    if row.snapshot:
        body["is_snapshotuser"] = 1  # 快照页模式: a virtual openid, the user has not authorized
    user = session.get(SimUser, row.openid)
    if user and user.unionid and row.scope == "snsapi_userinfo":
        body["unionid"] = user.unionid
    return body


def userinfo(session: Session, *, access_token: str, openid: str) -> dict[str, Any]:
    """/sns/userinfo (网页授权, 第四步: 拉取用户信息, needs scope snsapi_userinfo)."""
    row = session.exec(select(SimCode).where(col(SimCode.sns_token) == access_token)).first()
    if row is None or row.openid != openid:
        return err(INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
    if row.scope != "snsapi_userinfo":
        return err(48001, "api unauthorized")
    user = ensure_user(session, openid=openid)
    return {
        "openid": user.openid, "nickname": user.nickname, "sex": 0, "province": "", "city": "", "country": "",
        "headimgurl": "", "privilege": [], "unionid": user.unionid,
    }


def stable_token(session: Session, *, settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    """/cgi-bin/stable_token: the same token until it expires unless ``force_refresh``."""
    bump(session, "cgi-bin.stable_token")
    if body.get("grant_type") != "client_credential":
        return err(40002, "invalid grant_type")
    if body.get("appid") != settings.wechat_appid:
        return err(INVALID_APPID, "invalid appid")
    if body.get("secret") != settings.wechat_secret:
        return err(INVALID_SECRET, "invalid appsecret")
    return _token(session, kind="access_token", force=bool(body.get("force_refresh")))


def _token(session: Session, *, kind: str, force: bool) -> dict[str, Any]:
    now = utcnow()
    current = session.exec(
        select(SimToken).where(col(SimToken.kind) == kind).order_by(col(SimToken.created_at).desc())
    ).first()
    if current is not None and aware(current.expires_at) > now and not force:
        remaining = int((aware(current.expires_at) - now).total_seconds())
        return {"access_token": current.value, "expires_in": remaining}
    value = secrets.token_urlsafe(48)
    session.add(SimToken(value=value, kind=kind, expires_at=now + timedelta(seconds=TOKEN_TTL_SECONDS)))
    return {"access_token": value, "expires_in": TOKEN_TTL_SECONDS}


def valid_access_token(session: Session, token: str) -> bool:
    row = session.get(SimToken, token) if token else None
    return row is not None and row.kind == "access_token" and aware(row.expires_at) > utcnow()


def get_ticket(session: Session, *, access_token: str, kind: str) -> dict[str, Any]:
    """/cgi-bin/ticket/getticket?type=jsapi (JS-SDK 附录1: jsapi_ticket)."""
    bump(session, "cgi-bin.ticket.getticket")
    if not valid_access_token(session, access_token):
        return err(INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
    if kind != "jsapi":
        return err(40097, "invalid args")
    token = _token(session, kind="jsapi_ticket", force=False)
    return {"errcode": 0, "errmsg": "ok", "ticket": token["access_token"], "expires_in": token["expires_in"]}


def send_template(session: Session, *, access_token: str, body: dict[str, Any]) -> dict[str, Any]:
    """/cgi-bin/message/template/send (模板消息接口, 发送模板消息)."""
    bump(session, "cgi-bin.message.template.send")
    if not valid_access_token(session, access_token):
        return err(INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
    openid = str(body.get("touser") or "")
    user = session.get(SimUser, openid)
    if user is None:
        return err(INVALID_OPENID, "invalid openid")
    if not body.get("template_id"):
        return err(40037, "invalid template_id")
    if user.template_errcode:
        # Switched on by a test: 43101 the user refused messages, 43117 (as configured) …
        message = "user refuse to accept the msg" if user.template_errcode == USER_REFUSED else "simulated error"
        return err(user.template_errcode, message)
    payload = {"template_id": body.get("template_id"), "url": body.get("url"), "data": body.get("data") or {}}
    entry = add_inbox(session, kind="template", to=openid, payload=payload)
    return {"errcode": 0, "errmsg": "ok", "msgid": entry.seq}


def create_menu(session: Session, *, access_token: str, body: dict[str, Any]) -> dict[str, Any]:
    """/cgi-bin/menu/create (自定义菜单, 创建接口)."""
    if not valid_access_token(session, access_token):
        return err(INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
    if not isinstance(body.get("button"), list) or not body["button"]:
        return err(40016, "invalid button size")
    add_inbox(session, kind="menu", to="-", payload=body)
    return {"errcode": 0, "errmsg": "ok"}


def add_inbox(session: Session, *, kind: str, to: str, payload: dict[str, Any]) -> SimInbox:
    last = session.exec(select(func.max(SimInbox.seq))).one()
    entry = SimInbox(kind=kind, to=to, payload=json.dumps(payload, ensure_ascii=False), seq=(last or 0) + 1)
    session.add(entry)
    session.flush()
    return entry


def inbox(session: Session, *, to: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    query = select(SimInbox).order_by(col(SimInbox.seq).desc())
    if kind != "menu":  # published menus are kept apart from what users received
        query = query.where(col(SimInbox.kind) != "menu")
    if to:
        query = query.where(col(SimInbox.to) == to)
    if kind:
        query = query.where(col(SimInbox.kind) == kind)
    out = []
    for row in session.exec(query.limit(200)).all():
        out.append({**json.loads(row.payload), "kind": row.kind, "to": row.to, "at": aware(row.at).isoformat()})
    return out


def set_template_errcode(session: Session, *, openid: str, errcode: int | None) -> None:
    user = ensure_user(session, openid=openid)
    user.template_errcode = errcode
    session.add(user)


# 人脸核身 (face verification against the citizen ID database). The page's JSAPI
# ``wx.invoke("requestWxFacePictureVerify", {request_verify_pre_info: {name, id_card_number}})`` answers a
# ``verify_result``; the server asks /cityservice/face/identify/getinfo for the verdict, which carries only
# MD5 digests of the ID number and name, so the server compares what the user typed.
FACE_RESULT_TTL = timedelta(minutes=30)
FACE_OK, FACE_MISMATCH = 0, 10002  # identify_ret: 0 success; non-zero: not the person claimed


def set_realname(session: Session, *, openid: str, name: str | None, id_number: str | None) -> None:
    user = ensure_user(session, openid=openid)
    user.realname_name, user.realname_id_number = name, (id_number or "").upper() or None
    session.add(user)


def face_verify(session: Session, *, openid: str, name: str, id_number: str) -> dict[str, Any]:
    """The JSAPI's answer: a ``verify_result`` whatever the outcome (the verdict is for the server)."""
    user = session.get(SimUser, openid)
    matched = (user is not None and user.realname_name == name.strip()
               and user.realname_id_number == id_number.strip().upper())
    result = secrets.token_urlsafe(24)
    session.add(SimFaceVerify(verify_result=result, openid=openid, name=name.strip(),
                              id_number=id_number.strip().upper(), identify_ret=FACE_OK if matched else FACE_MISMATCH))
    return {"err_code": 0, "err_msg": "requestWxFacePictureVerify:ok", "verify_result": result}


def _md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def face_getinfo(session: Session, *, access_token: str, verify_result: str) -> dict[str, Any]:
    """/cityservice/face/identify/getinfo (微信人脸核身接口: 获取核身结果)."""
    bump(session, "cityservice.face.identify.getinfo")
    if not valid_access_token(session, access_token):
        return err(INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
    row = session.get(SimFaceVerify, verify_result) if verify_result else None
    if row is None or aware(row.created_at) + FACE_RESULT_TTL < utcnow():
        return err(40001 if row is None else 42001, "invalid verify_result")
    at = int(aware(row.created_at).timestamp())
    return {"errcode": 0, "errmsg": "ok", "identify_ret": row.identify_ret, "identify_time": at,
            "validate_data": "", "openid": row.openid, "user_id_key": _md5(row.openid), "finish_time": at,
            "id_card_number_md5": _md5(row.id_number), "name_utf8_md5": _md5(row.name)}
