"""HTTP face of the WeChat simulator, mounted under ``/_sim/wechat`` only when
``settings.wechat_simulator`` (config refuses that in production). Below the prefix: WeChat's real
paths. Plus, for development and tests: ``/inbox``, ``/control``, ``/stats`` and ``/push``.
"""

from __future__ import annotations

import html
import json
import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import requests
import xmltodict
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from wechatpy.crypto import WeChatCrypto

from backend.api.deps import SessionDep, SettingsDep
from backend.auth.simulator import service
from backend.wechat.client import http_factory

router = APIRouter(prefix="/_sim/wechat", include_in_schema=False)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    """WeChat takes JSON bodies whatever the Content-Type (wechatpy sends none)."""
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the interpreter allows
        return {}
    return body if isinstance(body, dict) else {}


JsonBody = Annotated[dict[str, Any], Depends(_json_body)]


@router.get("/connect/oauth2/authorize")
def authorize(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    appid: str = "",
    redirect_uri: str = "",
    response_type: str = "",
    scope: str = "snsapi_base",
    state: str = "",
    sim_user: Annotated[str | None, Query(max_length=128)] = None,
    sim_snapshot: bool = False,
) -> Response:
    """网页授权 第一步: 用户同意授权，获取code — then 302 to ``redirect_uri?code=CODE&state=STATE``."""
    if appid != settings.wechat_appid:
        return _page("参数错误 (40013 invalid appid)", "<p>appid 无效</p>", 400)
    target = urlsplit(redirect_uri)
    public = urlsplit(settings.public_url)
    if (target.scheme, target.netloc) != (public.scheme, public.netloc):
        # Real WeChat: "redirect_uri 域名与后台配置不一致" (10003).
        return _page("redirect_uri 域名与后台配置不一致 (10003)", "", 400)
    if response_type != "code" or scope not in ("snsapi_base", "snsapi_userinfo"):
        return _page("参数错误", "<p>response_type 或 scope 无效</p>", 400)
    if sim_user:
        code = service.issue_code(session, openid=sim_user, appid=appid, scope=scope, snapshot=sim_snapshot)
        sep = "&" if target.query else "?"
        return RedirectResponse(f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}", status_code=302)
    base = dict(request.query_params)
    items = []
    for user in service.listed_users(session):
        link = "?" + urlencode({**base, "sim_user": user.openid})
        label = f"{html.escape(user.nickname)} ({html.escape(user.openid)})"
        items.append(f'<li><a href="{html.escape(link)}">{label}</a></li>')
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in base.items()
    )
    form = (
        f'<form method="get">{hidden}<label>其他 openid <input name="sim_user" required></label>'
        '<label><input type="checkbox" name="sim_snapshot" value="true"> 快照页模式</label>'
        "<button>授权</button></form>"
    )
    return _page("微信授权（模拟器）", f"<p>选择测试用户登录：</p><ul>{''.join(items)}</ul>{form}")


@router.get("/sns/oauth2/access_token")
def sns_access_token(
    session: SessionDep, settings: SettingsDep, appid: str = "", secret: str = "", code: str = "",
    grant_type: str = "",
) -> dict[str, Any]:
    if grant_type != "authorization_code":
        return service.err(40002, "invalid grant_type")
    return service.exchange_code(session, settings=settings, appid=appid, secret=secret, code=code)


@router.get("/sns/userinfo")
def sns_userinfo(session: SessionDep, access_token: str = "", openid: str = "", lang: str = "zh_CN") -> dict[str, Any]:
    del lang
    return service.userinfo(session, access_token=access_token, openid=openid)


@router.post("/cgi-bin/stable_token")
def stable_token(session: SessionDep, settings: SettingsDep, body: JsonBody) -> dict[str, Any]:
    return service.stable_token(session, settings=settings, body=body)


@router.get("/cgi-bin/ticket/getticket")
def getticket(session: SessionDep, access_token: str = "", type: str = "jsapi") -> dict[str, Any]:
    return service.get_ticket(session, access_token=access_token, kind=type)


@router.post("/cgi-bin/message/template/send")
def template_send(session: SessionDep, body: JsonBody, access_token: str = "") -> dict[str, Any]:
    return service.send_template(session, access_token=access_token, body=body)


@router.post("/cgi-bin/menu/create")
def menu_create(session: SessionDep, body: JsonBody, access_token: str = "") -> dict[str, Any]:
    return service.create_menu(session, access_token=access_token, body=body)


@router.get("/inbox")
def inbox(session: SessionDep, to: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """Everything sent (template messages, SMS codes), newest first."""
    return service.inbox(session, to=to, kind=kind)


class Control(BaseModel):
    openid: str = Field(min_length=1, max_length=128)
    template_errcode: int | None = None  # 43101, 43117 … or null to deliver again
    realname_name: str | None = Field(default=None, max_length=64)  # the user's real-name identity (实名)
    realname_id_number: str | None = Field(default=None, max_length=32)


@router.post("/control")
def control(session: SessionDep, body: Control) -> dict[str, Any]:
    service.set_template_errcode(session, openid=body.openid, errcode=body.template_errcode)
    if body.realname_name is not None or body.realname_id_number is not None:
        service.set_realname(session, openid=body.openid, name=body.realname_name, id_number=body.realname_id_number)
    return {"ok": True}


class FaceVerify(BaseModel):
    """What the page passes to ``wx.invoke("requestWxFacePictureVerify")``: who the user says they are."""

    openid: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    id_card_number: str = Field(min_length=1, max_length=32)


@router.post("/face/verify")
def face_verify(session: SessionDep, body: FaceVerify) -> dict[str, Any]:
    """Stands in for the in-WeChat JSAPI (a browser outside WeChat cannot call it)."""
    return service.face_verify(session, openid=body.openid, name=body.name, id_number=body.id_card_number)


@router.post("/cityservice/face/identify/getinfo")
def face_getinfo(session: SessionDep, body: JsonBody, access_token: str = "") -> dict[str, Any]:
    return service.face_getinfo(session, access_token=access_token, verify_result=str(body.get("verify_result") or ""))


@router.get("/stats")
def stats(session: SessionDep) -> dict[str, int]:
    return service.counters(session)


class Push(BaseModel):
    """What the simulated WeChat server pushes to our message endpoint."""

    openid: str = Field(min_length=1, max_length=128)
    msg_type: str = "event"
    event: str | None = "subscribe"
    event_key: str | None = None
    content: str | None = None
    msg_id: int | None = None
    create_time: int | None = None
    timestamp: int | None = None  # the query's timestamp (stale-timestamp tests)
    forge_signature: bool = False
    raw_inner_xml: str | None = None  # sent instead of the generated message (e.g. with a DOCTYPE)


def _inner_xml(settings_appid: str, push: Push) -> str:
    if push.raw_inner_xml is not None:
        return push.raw_inner_xml
    msg: dict[str, Any] = {
        "ToUserName": "gh_yunying", "FromUserName": push.openid,
        "CreateTime": push.create_time or int(time.time()), "MsgType": push.msg_type,
    }
    if push.msg_type == "event":
        msg["Event"] = push.event or ""
        if push.event_key is not None:
            msg["EventKey"] = push.event_key
    else:
        msg["Content"] = push.content or ""
        msg["MsgId"] = push.msg_id or secrets.randbelow(10**15)
    del settings_appid
    return str(xmltodict.unparse({"xml": msg}, full_document=False))


@router.post("/push")
def push(request: Request, settings: SettingsDep, body: Push) -> JSONResponse:
    """Encrypt (safe mode) and sign a message like WeChat does, POST it to /wechat/callback."""
    timestamp = str(body.timestamp or int(time.time()))
    nonce = secrets.token_hex(8)
    crypto = WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_appid)
    envelope = xmltodict.parse(crypto.encrypt_message(_inner_xml(settings.wechat_appid, body), nonce, timestamp))["xml"]
    signature = envelope["MsgSignature"]
    if body.forge_signature:
        signature = "0" * 40
    outer = (
        "<xml><ToUserName><![CDATA[gh_yunying]]></ToUserName>"
        f"<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>"
    )
    query = {"timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes", "msg_signature": signature}
    http = http_factory(request.app.state)()
    try:
        res = http.post(f"{settings.public_url}/wechat/callback", params=query, data=outer.encode(), timeout=5)
    except requests.Timeout:
        # WeChat waits 5 s for the answer, then gives up on this try (and retries later): a 504 saying so,
        # not a simulator crash.
        return JSONResponse({"status": None, "body": "", "timed_out": True}, status_code=504)
    return JSONResponse({"status": res.status_code, "body": res.text})
