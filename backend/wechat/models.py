"""The WeChat adapter's own table: inbound message de-duplication (what WeChat pushed to us)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.clock import utcnow


class InboundMessage(SQLModel, table=True):
    """A message/event WeChat pushed, remembered to drop WeChat's retries and replays. Key: MsgId,
    or FromUserName + CreateTime for events (the message-push doc's de-duplication advice)."""

    __tablename__ = "wechat_inbound"

    dedup_key: str = Field(primary_key=True, max_length=160)
    event: str = Field(max_length=32)
    openid: str = Field(max_length=128)
    received_at: datetime = Field(default_factory=utcnow, index=True)
