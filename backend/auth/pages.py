"""The small HTML pages a browser sees when WeChat login cannot finish (Chinese first, English below)."""

from __future__ import annotations

import html

from fastapi.responses import HTMLResponse

# kind → (status, Chinese title, Chinese advice, English)
PAGES: dict[str, tuple[int, str, str, str]] = {
    "state-missing": (400, "登录链接已失效", "请返回公众号，重新点击菜单进入。",
                      "The login link is not valid in this browser."),
    "state-mismatch": (400, "登录请求不匹配", "请返回公众号，重新点击菜单进入。",
                       "The login request does not match this browser."),
    "state-expired": (400, "登录已超时", "登录需在 5 分钟内完成，请重新进入。",
                      "The login took longer than 5 minutes."),
    "code-missing": (400, "未获得微信授权", "请在微信中重新打开本服务。", "WeChat did not authorize the login."),
    "code-invalid": (400, "微信授权无效", "请重新进入本服务。", "WeChat rejected the authorization code."),
    "code-used": (400, "登录链接已使用", "每个登录链接只能使用一次，请重新进入。", "This login link was already used."),
    "code-expired": (400, "微信授权已过期", "请重新进入本服务。", "The authorization code expired."),
    "config": (502, "服务配置错误", "请稍后再试，或联系客服。", "The service's WeChat configuration is wrong."),
    "wechat-error": (502, "微信登录失败", "请稍后再试。", "WeChat login failed."),
    "unavailable": (503, "微信暂时无法连接", "请稍后再试。", "WeChat cannot be reached right now."),
    "busy": (503, "登录暂时不可用", "请稍后再试。", "Sign-in is briefly unavailable; please try again shortly."),
    "snapshot": (
        200, "请使用完整服务",
        "您正在浏览朋友圈快照页。请点击页面底部的「使用完整服务」，授权后即可查看您的影像记录。",
        "You are viewing a Moments snapshot page: tap “use the full service” to continue.",
    ),
}


def problem_page(kind: str) -> HTMLResponse:
    status, title, advice, english = PAGES.get(kind, PAGES["wechat-error"])
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · 云影</title></head><body>"
        f'<main data-problem="{html.escape(kind)}"><h1>{html.escape(title)}</h1><p>{html.escape(advice)}</p>'
        f'<p lang="en">{html.escape(english)}</p></main></body></html>'
    )
    headers = {"Cache-Control": "no-store", **({"Retry-After": "15"} if status == 503 else {})}
    return HTMLResponse(body, status_code=status, headers=headers)
