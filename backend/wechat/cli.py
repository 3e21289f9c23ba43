"""``yunying wechat menu``: publish the Official Account's menu (自定义菜单 创建接口,
POST /cgi-bin/menu/create). One "view" button opens the app; its URL starts the WeChat login."""

from __future__ import annotations

import json

import typer

from backend.cli_support import engine_or_exit, fail, settings_or_exit

wechat_app = typer.Typer(no_args_is_help=True, help="WeChat Official Account.")


def menu_definition(public_url: str) -> dict[str, object]:
    return {
        "button": [
            {"type": "view", "name": "我的影像", "url": f"{public_url}/auth/wechat/start?next=/"},
            {"type": "view", "name": "绑定身份", "url": f"{public_url}/auth/wechat/start?next=/bind"},
        ]
    }


@wechat_app.command("menu")
def menu(dry_run: bool = typer.Option(False, "--dry-run", help="Print the menu, do not publish.")) -> None:
    """Publish the menu (the entry to the app)."""
    from wechatpy.exceptions import WeChatClientException

    from backend.shared_state import shared_state
    from backend.wechat.client import Credentials, WeChatUnavailable

    settings = settings_or_exit()
    definition = menu_definition(settings.public_url)
    if dry_run:
        typer.echo(json.dumps(definition, ensure_ascii=False, indent=2))
        return
    engine = engine_or_exit(settings)
    credentials = Credentials(settings=settings, state=shared_state(redis_url=settings.redis_url, engine=engine))
    try:
        credentials.call(lambda client: client.menu.create(definition))
    except WeChatUnavailable as exc:
        fail(f"WeChat is unavailable: {exc}")
    except WeChatClientException as exc:
        fail(f"WeChat refused the menu: {exc}")
    typer.echo("menu published")
