"""SMS providers for identity-binding codes. Development and tests deliver into the WeChat
simulator's inbox (in the same transaction as the code, so a code exists exactly when it was "sent");
production needs a real provider configured (none is wired yet: binding answers 503 there)."""

from __future__ import annotations

from typing import Protocol

from sqlmodel import Session

from backend.config import Settings
from backend.errors import ServiceUnavailable


class SmsSender(Protocol):
    available: bool

    def send(self, *, session: Session, phone: str, text: str, code: str) -> None: ...


class SimulatorInboxSms:
    available = True

    def send(self, *, session: Session, phone: str, text: str, code: str) -> None:
        from backend.auth.simulator.service import add_inbox

        add_inbox(session, kind="sms", to=phone, payload={"text": text, "code": code})


class UnconfiguredSms:
    available = False

    def send(self, *, session: Session, phone: str, text: str, code: str) -> None:
        del session, phone, text, code
        raise ServiceUnavailable("No SMS provider is configured.", zh="短信服务未配置", code="sms-unavailable")


def sms_sender(settings: Settings) -> SmsSender:
    return SimulatorInboxSms() if settings.wechat_simulator else UnconfiguredSms()
