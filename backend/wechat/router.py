"""HTTP: WeChat's message endpoint (``/wechat/callback``) and the PWA's JS-SDK configuration."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from backend.api.deps import EngineDep, SettingsDep, SharedStateDep, WeChatHttpDep
from backend.auth.schemas import JsSdkConfigOut
from backend.config import Settings
from backend.db import session_scope
from backend.errors import BadRequest, PayloadTooLarge, ServiceUnavailable
from backend.wechat import messages
from backend.wechat.client import Credentials, WeChatUnavailable

log = logging.getLogger("yunying.wechat")
callback_router = APIRouter(prefix="/wechat", tags=["wechat"])
api_router = APIRouter(prefix="/wechat", tags=["wechat"])


@callback_router.get("/callback")
def verify(
    settings: SettingsDep,
    signature: Annotated[str, Query(max_length=64)] = "",
    timestamp: Annotated[str, Query(max_length=16)] = "",
    nonce: Annotated[str, Query(max_length=64)] = "",
    echostr: Annotated[str, Query(max_length=256)] = "",
) -> PlainTextResponse:
    """Server URL verification (接入指南): answer ``echostr`` when the signature is right."""
    messages.check_timestamp(timestamp)
    messages.verify_url(settings, signature=signature, timestamp=timestamp, nonce=nonce)
    return PlainTextResponse(echostr)


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge("message too large", code="wechat-too-large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("message too large", code="wechat-too-large")
        chunks.append(chunk)
    return b"".join(chunks)


def _process(settings: Settings, engine: Engine, raw: bytes, *, msg_signature: str, timestamp: str,
             nonce: str) -> str:
    messages.check_timestamp(timestamp)
    msg = messages.decrypt(settings, raw=raw, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce)
    with session_scope(engine) as session:  # after the signature check: nothing is written for a forgery
        handled = messages.handle(session, msg=msg)
    log.info("wechat push %s%s", handled.event, " (duplicate)" if handled.duplicate else "")
    return "success"


@callback_router.post("/callback")
async def receive(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    msg_signature: Annotated[str, Query(max_length=64)] = "",
    timestamp: Annotated[str, Query(max_length=16)] = "",
    nonce: Annotated[str, Query(max_length=64)] = "",
    encrypt_type: Annotated[str, Query(max_length=16)] = "",
) -> PlainTextResponse:
    """Message and event pushes, safe mode only (消息加解密: encrypt_type=aes)."""
    raw = await _read_capped(request, messages.MAX_BODY_BYTES)
    if encrypt_type != "aes":
        raise BadRequest("only safe mode (encrypt_type=aes) is accepted", code="wechat-plaintext")
    answer = await run_in_threadpool(
        _process, settings, engine, raw, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce
    )
    return PlainTextResponse(answer)


@api_router.get("/jssdk-config", response_model=JsSdkConfigOut, summary="wx.config parameters for a page URL")
def jssdk_config(
    settings: SettingsDep, state: SharedStateDep, http: WeChatHttpDep,
    url: Annotated[str, Query(min_length=1, max_length=1024)],
) -> JsSdkConfigOut:
    """JS-SDK 附录1 (签名算法): sha1 over jsapi_ticket, noncestr, timestamp and the page URL without
    its #fragment. Only pages of our own public host are signed."""
    page = url.split("#", 1)[0]
    parts, public = urlsplit(page), urlsplit(settings.public_url)
    if (parts.scheme, parts.netloc) != (public.scheme, public.netloc):
        raise BadRequest("Only pages of this site are signed.", zh="只能为本站页面签名", code="jssdk-foreign-url")
    try:
        ticket = Credentials(settings=settings, state=state, http=http).jsapi_ticket()
    except WeChatUnavailable:
        raise ServiceUnavailable("WeChat is unavailable.", zh="微信暂时无法连接", code="wechat-unavailable") from None
    nonce = secrets.token_hex(8)
    timestamp = int(time.time())
    signature = messages.sha1_signature_ordered(
        f"jsapi_ticket={ticket}", f"noncestr={nonce}", f"timestamp={timestamp}", f"url={page}"
    )
    return JsSdkConfigOut(appId=settings.wechat_appid, timestamp=timestamp, nonceStr=nonce, signature=signature)
