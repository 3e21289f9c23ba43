"""WeChat notifications through an outbox.

- :func:`notify_new_record` is what other domains call when a study or report arrives: it only
  inserts outbox rows in the caller's transaction (cheap; the message exists iff the record does),
  one per (event, recipient) — calling it twice changes nothing.
- Each new row also gets a `notify` job in the outbox (backend/jobs), in the same transaction; the job
  (:func:`send_one`, run in-process or by a Celery worker) sends the row as a template message
  (模板消息接口, 发送模板消息: POST /cgi-bin/message/template/send). A failure is retried with
  exponential backoff (the job is queued again for then); 43101 (the user refused messages) is
  recorded and never retried. The message says only that a new result
  exists — no findings, no names — and links to the app, which requires login.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import requests
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from wechatpy.exceptions import WeChatClientException

from backend.access.service import accounts_for_person
from backend.auth.models import Account
from backend.clock import CST, aware, utcnow
from backend.config import Settings
from backend.db import insert_missing, session_scope
from backend.ids import new_id
from backend.jobs import service as outbox
from backend.notify.models import FAILED, PENDING, REFUSED, SENDING, SENT, Notification
from backend.shared_state import SharedStateUnavailable, shared_state
from backend.wechat.client import Credentials, HttpFactory, WeChatUnavailable

log = logging.getLogger("yunying.notify")

# The template registered in the Official Account's console (模板库). A setting is requested in the
# report (YUNYING_WECHAT_TEMPLATE_NEW_RECORD); until then this constant is the simulator's id.
TEMPLATE_NEW_RECORD = "yunying-new-record"
MESSAGE_TITLE = "您有新的影像检查结果"
USER_REFUSED = 43101
MAX_ATTEMPTS = 8
# How long a claimed row stays "sending": longer than a send may take (the WeChat client's timeouts and
# the notify job's hard time limit), so only a dead sender's row outlives it.
SEND_LEASE = timedelta(minutes=5)
# last_error of a notice whose sender died mid-send: it may have reached WeChat once, never twice.
DIED_MID_SEND = "the sender died while sending: not sent again (at most once)"
BASE_BACKOFF = timedelta(seconds=30)
BATCH = 50


def notify_once(session: Session, *, event_key: str, account_id: str, person_id: str, kind: str) -> int:
    """Enqueue one notice unless this (event, account) has one: INSERT … ON CONFLICT DO NOTHING on the
    outbox's unique key (a read-then-insert would race). Returns 1 when this call added it."""
    row_id = new_id()
    added = insert_missing(session, Notification, keys=["event_key", "account_id"], values={
        "id": row_id, "event_key": event_key[:128], "account_id": account_id, "person_id": person_id,
        "kind": kind, "status": PENDING, "attempts": 0, "next_attempt_at": utcnow(), "created_at": utcnow()})
    if added:  # its job, in the same transaction: sent if and only if the notice committed (backend/jobs)
        outbox.enqueue(session, kind=outbox.NOTIFY, key=row_id)
    return int(added)


def notify_new_record(
    *, session: Session, person_id: str, record_id: str, record_kind: str | None = None, kind: str | None = None
) -> int:
    """Enqueue a notice for every account that may read this person's records. Returns rows added.
    (``kind`` is accepted as another name for ``record_kind``: imaging's ingest calls it so.)"""
    record_kind = record_kind or kind or "record"
    event_key = f"record:{record_kind}:{record_id}"[:128]
    scope_kind = record_kind if record_kind != "record" else None
    return sum(notify_once(session, event_key=event_key, account_id=account_id, person_id=person_id,
                           kind="new_record")
               for account_id, _relation in accounts_for_person(session=session, person_id=person_id, kind=scope_kind,
                                                                ref_id=record_id))


def backoff(attempts: int) -> timedelta:
    return BASE_BACKOFF * (2 ** max(0, attempts - 1))




# What each kind of notice says and where it leads. Never a finding, a name or a diagnosis: a template
# message can be read on a lock screen, so it only says that something happened and links into the app.
NOTICES: dict[str, tuple[str, str]] = {
    "record:imaging_study": (MESSAGE_TITLE, "/"),
    "record:lab_result": ("您有新的化验结果", "/"),
    "record:checkup": ("您有新的体检报告", "/"),
    "grant_started": ("有家人开始查看您的健康记录", "/family"),
    "grant_request": ("有家人申请查看您的健康记录", "/family"),
    "grant_ended": ("家人已停止与您共享健康记录", "/welcome"),
    "followup_due": ("您有一项复查已到期", "/timeline"),
    "proxy_digest": ("家人查看了您的健康记录", "/access"),
    "share_opened": ("您分享的影像已被打开", "/shares"),
}
DEFAULT_NOTICE = ("您的健康记录有更新", "/")


def notice_for(row: Notification) -> tuple[str, str]:
    """(title, app path) of a notice: new records by their record kind, the rest by notice kind."""
    if row.kind == "new_record":
        record_kind = row.event_key.split(":", 2)[1] if row.event_key.count(":") >= 2 else ""
        return NOTICES.get(f"record:{record_kind}", DEFAULT_NOTICE)
    return NOTICES.get(row.kind, DEFAULT_NOTICE)


def _message(settings: Settings, row: Notification) -> dict[str, object]:
    at = aware(row.created_at).astimezone(CST)  # China Standard Time for display
    title, path = notice_for(row)
    return {
        "template_id": TEMPLATE_NEW_RECORD,
        "url": f"{settings.public_url}{path}",
        "data": {
            "first": {"value": title},
            "thing1": {"value": title},
            "time2": {"value": at.strftime("%Y-%m-%d %H:%M")},
            "remark": {"value": "点击查看，需登录后访问"},
        },
    }


def dispatch_pending(*, settings: Settings, engine: Engine, http: HttpFactory | None = None,
                     now: datetime | None = None) -> dict[str, int]:
    """Send every due notification now (tests, a backlog drained by hand); the runners send them one by
    one through the outbox (`send_one`). Safe alongside them: each row is claimed before it is sent."""
    now = now or utcnow()
    counts = {SENT: 0, REFUSED: 0, FAILED: 0, "retry": 0}
    with session_scope(engine, readonly=True) as session:
        due = session.exec(
            select(Notification.id).where(Notification.status == PENDING, col(Notification.next_attempt_at) <= now)
            .order_by(col(Notification.next_attempt_at)).limit(BATCH)
        ).all()
    for row_id in due:
        outcome = send_one(settings=settings, engine=engine, notification_id=row_id, http=http, now=now)
        if outcome in counts:
            counts[outcome] += 1
    return counts


def send_one(*, settings: Settings, engine: Engine, notification_id: str, http: HttpFactory | None = None,
             now: datetime | None = None) -> str:
    """The `notify` job: send this notice unless it is final. Idempotent — a job may run twice:

    * a notice already sent (or refused, or given up) is not sent again (the row's status);
    * two runs at once: the row is claimed with a compare-and-set on `attempts` that moves
      `next_attempt_at` forward, so exactly one of them sends;
    * a run that finds the row not yet due (a retry is pending, or another sender holds it) queues the
      job again for that moment, so nothing is lost and nothing is sent early;
    * at most once: the claim marks the row ``sending`` for SEND_LEASE. A sender killed after WeChat
      accepted the message and before "sent" was committed leaves it ``sending``; WeChat's template API
      has no idempotency key, so whether the patient got it cannot be known — the row is then closed as
      failed and never sent again (issue 17: no notice twice; one lost in a crash is the lesser harm).
    Returns sent, refused, failed, retry, later, or done (nothing to do)."""
    now = now or utcnow()
    with session_scope(engine) as session:
        row = session.get(Notification, notification_id)
        if row is None or row.status not in (PENDING, SENDING):
            return "done"
        if aware(row.next_attempt_at) > aware(now):
            outbox.enqueue(session, kind=outbox.NOTIFY, key=row.id, delay=aware(row.next_attempt_at) - aware(now))
            return "later"
        if row.status == SENDING:  # its sender died mid-send (the lease ran out)
            row.status, row.last_error = FAILED, DIED_MID_SEND
            session.add(row)
            log.warning("notification %s: sender died mid-send; closed without a second send", row.id)
            return FAILED
        won = session.execute(
            update(Notification)
            .where(col(Notification.id) == row.id, col(Notification.attempts) == row.attempts,
                   col(Notification.status) == PENDING)
            .values(status=SENDING, attempts=row.attempts + 1, next_attempt_at=now + SEND_LEASE)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            return "done"  # another run claimed it; if it dies, its own job is delivered again
        account = session.get(Account, row.account_id)
        openid = account.openid if account else None
    credentials = Credentials(settings=settings, state=shared_state(redis_url=settings.redis_url, engine=engine),
                              http=http)
    outcome, error = _send(settings, credentials, notification_id, openid, engine)
    with session_scope(engine) as session:
        current = session.get(Notification, notification_id)
        if current is None:
            return "done"
        if outcome == SENT:
            current.status, current.sent_at, current.last_error = SENT, utcnow(), None
        elif outcome == REFUSED:
            current.status, current.last_error = REFUSED, error
        elif current.attempts >= MAX_ATTEMPTS:
            current.status, current.last_error = FAILED, error
            outcome = FAILED
        else:  # not delivered (WeChat unreachable or an error answer): pending again, after the backoff
            current.status, current.last_error = PENDING, error
            current.next_attempt_at = utcnow() + backoff(current.attempts)
            outbox.enqueue(session, kind=outbox.NOTIFY, key=current.id, delay=backoff(current.attempts))
        session.add(current)
    return outcome


def _send(settings: Settings, credentials: Credentials, row_id: str, openid: str | None,
          engine: Engine) -> tuple[str, str | None]:
    if openid is None:
        return REFUSED, "no account"
    with session_scope(engine, readonly=True) as session:
        row = session.get(Notification, row_id)
        if row is None:
            return REFUSED, "gone"
        message = _message(settings, row)
    try:
        credentials.call(lambda client: client.message.send_template(
            openid, message["template_id"], message["data"], url=message["url"]))
    except WeChatClientException as exc:
        code = int(exc.errcode) if exc.errcode is not None else None
        if code == USER_REFUSED:
            return REFUSED, "43101 user refused"
        return "retry", f"errcode {code}"
    except (WeChatUnavailable, requests.RequestException) as exc:
        return "retry", type(exc).__name__
    except SharedStateUnavailable:
        # Redis gone while fetching the access token: nothing reached WeChat. Pending again — not left
        # "sending", which the next run would close as died mid-send and never send (found by the
        # standard load run: 92 notices lost to a 60 s Redis outage).
        return "retry", "shared state unavailable"
    return SENT, None
