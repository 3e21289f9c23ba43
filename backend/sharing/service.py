"""The patient's side of sharing: create, list (with who opened what, when), revoke, extend.

Only the person (or a relative whose grant has ``may_share``) creates and manages shares — the access
policy's ``PersonAccess.may_share`` decides. The token is returned once and never stored (only its
lookup digest); so is the access code (argon2 hash).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from backend.access import audit
from backend.access.models import AuditEvent
from backend.access.principals import AccountPrincipal
from backend.access.service import PersonAccess, authorize_person, share_status
from backend.clock import CST, aware, utcnow
from backend.config import Settings
from backend.crypto import decrypt, encrypt, hash_secret, lookup_digest, random_token
from backend.errors import BadRequest, Forbidden, NotFound, Unprocessable
from backend.qr import qr_images
from backend.records import service as records
from backend.sharing import rules
from backend.sharing.models import Share, ShareSession, ShareStudy
from backend.sharing.schemas import (
    ExpiresIn,
    ShareCodeReset,
    ShareCreate,
    ShareCreated,
    ShareLink,
    ShareOpen,
    ShareOut,
    ShareView,
)

PRESETS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "72h": timedelta(hours=72), "7d": timedelta(days=7)}
MIN_CUSTOM = timedelta(minutes=5)
MAX_EXPIRY = timedelta(days=30)
NOTE_AAD = b"share-note"
TOKEN_AAD = b"share-token"
LOG_LIMIT = 200


def expiry_delta(expires_in: ExpiresIn) -> timedelta:
    if isinstance(expires_in, str):
        return PRESETS[expires_in]
    # Compare the number first: timedelta() itself overflows past ~8.6e13 seconds (untrusted input).
    if not MIN_CUSTOM.total_seconds() <= expires_in <= MAX_EXPIRY.total_seconds():
        raise BadRequest("expires_in must be between 5 minutes and 30 days (seconds).", code="share-expiry-range",
                         zh="有效期须在 5 分钟到 30 天之间。")
    return timedelta(seconds=expires_in)


def share_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/s/{token}"


def _may_manage(access: PersonAccess) -> bool:
    """Sharing is of imaging: an account whose access does not cover imaging (a lab-only relative, even
    with ``may_share``) neither creates, lists nor manages shares."""
    return access.may_share and access.allows_kind(rules.SHARED_KIND) and isinstance(access.principal,
                                                                                       AccountPrincipal)


def _require_sharer(access: PersonAccess) -> AccountPrincipal:
    if not _may_manage(access) or not isinstance(access.principal, AccountPrincipal):
        raise Forbidden("You may not share this person's records.", code="share-not-allowed",
                        zh="您无权分享此人的检查。")
    return access.principal


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=CST)


def _chosen_studies(session: Session, access: PersonAccess, body: ShareCreate) -> tuple[str, list[str]]:
    """The studies a new share covers, checked against what the sharer may read (a study of another
    person, or one their grant does not cover, is the same 404 as an unknown id)."""
    if body.all == bool(body.study_ids):
        raise BadRequest("Give either study_ids or all=true.", code="share-scope",
                         zh="请选择要分享的检查，或选择全部影像。")
    if body.study_ids:
        ids = list(dict.fromkeys(body.study_ids))
        for study_id in ids:
            records.require_entry(session=session, access=access, kind=rules.SHARED_KIND, ref_id=study_id)
        return "studies", ids
    if body.date_from and body.date_to and body.date_from > body.date_to:
        raise BadRequest("date_from must not be after date_to.",
                         zh="开始日期不能晚于结束日期", code="invalid-date-range")
    entries = records.person_entries(session=session, access=access, kind=rules.SHARED_KIND)
    low = _day_start(body.date_from) if body.date_from else None
    # The day after date_to, exclusive; 9999-12-31 (date.max) has no day after it: no upper bound.
    high = _day_start(body.date_to + timedelta(days=1)) if body.date_to and body.date_to < date.max else None
    ids = [e.ref_id for e in entries if (low is None or aware(e.occurred_at) >= low)
           and (high is None or aware(e.occurred_at) < high)]
    if not ids:
        raise Unprocessable("No imaging studies in that range.", code="share-empty",
                            zh="所选时间段内没有影像检查。")
    return "range", ids


def create(*, session: Session, settings: Settings, access: PersonAccess, body: ShareCreate) -> ShareCreated:
    sharer = _require_sharer(access)
    scope, study_ids = _chosen_studies(session, access, body)
    token = random_token(rules.TOKEN_PREFIX, nbytes=24)  # 192 bits
    code = f"{secrets.randbelow(1_000_000):06d}" if body.with_access_code else None
    key = settings.secret_bytes("encryption_key")
    share = Share(
        person_id=access.person_id, created_by_account_id=sharer.account_id, token_digest=lookup_digest(token),
        code_hash=hash_secret(code) if code else None, scope=scope, date_from=body.date_from, date_to=body.date_to,
        include_reports=body.include_reports, allow_download=body.allow_download,
        note_cipher=encrypt(key=key, plaintext=body.note, associated_data=NOTE_AAD) if body.note else None,
        expires_at=utcnow() + expiry_delta(body.expires_in), max_opens=body.max_opens,
        recipient=(body.recipient or "").strip() or None,
        token_cipher=encrypt(key=key, plaintext=token, associated_data=TOKEN_AAD),
    )
    session.add(share)
    session.flush()
    for study_id in study_ids:
        session.add(ShareStudy(share_id=share.id, study_id=study_id))
    access.audit(session, event_type="share.create", action=audit.CREATE, object_type="share", object_id=share.id,
                 detail={"studies": len(study_ids), "code": bool(code), "download": body.allow_download,
                         "max_opens": body.max_opens})
    url = share_url(settings, token)
    qr = qr_images(url=url)
    return ShareCreated(id=share.id, url=url, access_code=code, expires_at=share.expires_at, study_ids=study_ids,
                        qr_svg=qr.svg, qr_png=qr.png_data_uri)


def _log(session: Session, share: Share) -> tuple[list[ShareOpen], list[ShareView]]:
    opens = session.exec(select(ShareSession).where(ShareSession.share_id == share.id)
                         .order_by(col(ShareSession.created_at).desc()).limit(LOG_LIMIT)).all()
    # Reads through the patient API carry via_share_id; DICOMweb's are recorded with the share as actor.
    events = session.exec(
        select(AuditEvent)
        .where(or_(col(AuditEvent.via_share_id) == share.id,
                   (col(AuditEvent.actor_kind) == "share") & (col(AuditEvent.actor_id) == share.id)))
        .order_by(col(AuditEvent.seq).desc()).limit(LOG_LIMIT)
    ).all()
    return (
        [ShareOpen(at=aware(o.created_at), user_agent=o.user_agent) for o in opens],
        [ShareView(at=aware(e.at), event_type=e.event_type, object_type=e.object_type, object_id=e.object_id,
                   user_agent=e.user_agent) for e in events if e.event_type != "share.create"],
    )


def share_out(session: Session, settings: Settings, share: Share) -> ShareOut:
    opens, views = _log(session, share)
    note = None
    if share.note_cipher:
        note = decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=share.note_cipher,
                       associated_data=NOTE_AAD)
    return ShareOut(
        id=share.id, status=share_status(session, share), created_at=aware(share.created_at),
        expires_at=aware(share.expires_at),
        revoked_at=aware(share.revoked_at) if share.revoked_at else None, scope=share.scope,
        date_from=share.date_from, date_to=share.date_to,
        study_ids=sorted(rules.study_ids(session, share_id=share.id)), include_reports=share.include_reports,
        allow_download=share.allow_download, has_access_code=share.code_hash is not None, max_opens=share.max_opens,
        opens=share.opens, first_opened_at=aware(share.first_opened_at) if share.first_opened_at else None,
        note=note, recipient=share.recipient, open_log=opens, views=views,
        can_show_link=share.token_cipher is not None and share_status(session, share) == "active",
    )


def list_shares(*, session: Session, settings: Settings, access: PersonAccess) -> list[ShareOut]:
    _require_sharer(access)
    shares = session.exec(select(Share).where(Share.person_id == access.person_id)
                          .order_by(col(Share.created_at).desc())).all()
    access.audit(session, event_type="share.list", object_type="share", detail={"shares": len(shares)})
    return [share_out(session, settings, s) for s in shares]


def _managed(session: Session, principal: AccountPrincipal, share_id: str) -> tuple[Share, PersonAccess]:
    """A share the principal may manage; anything else — another person's share included — is a 404."""
    share = session.get(Share, share_id)
    if share is None:
        raise NotFound("No such share.", zh="未找到该分享", code="share-not-found")
    try:
        access = authorize_person(session=session, principal=principal, person_id=share.person_id)
    except NotFound:
        raise NotFound("No such share.", zh="未找到该分享", code="share-not-found") from None
    if not _may_manage(access):
        raise NotFound("No such share.", zh="未找到该分享", code="share-not-found")
    return share, access


def revoke(*, session: Session, principal: AccountPrincipal, share_id: str) -> None:
    """Immediate: the policy reads ``revoked_at`` on every request of every open session."""
    share, access = _managed(session, principal, share_id)
    if share.revoked_at is None:
        share.revoked_at = share.updated_at = utcnow()
        session.add(share)
        access.audit(session, event_type="share.revoke", action=audit.UPDATE, object_type="share", object_id=share.id)


def extend(*, session: Session, settings: Settings, principal: AccountPrincipal, share_id: str,
           expires_in: ExpiresIn, max_opens: int | None = None) -> ShareOut:
    """A new expiry counted from now (never more than 30 days away), and optionally a higher open
    limit. A revoked share stays revoked."""
    share, access = _managed(session, principal, share_id)
    if share.revoked_at is not None:
        raise Forbidden("A withdrawn share cannot be extended.", code="share-revoked",
                        zh="此分享已撤回，不能延期。")
    if max_opens is not None:
        if max_opens <= share.opens:
            raise BadRequest("max_opens must exceed the opens so far.", code="share-max-opens",
                             zh=f"打开次数上限须大于已打开的 {share.opens} 次。")
        share.max_opens = max_opens
    share.expires_at = utcnow() + expiry_delta(expires_in)
    share.updated_at = utcnow()
    session.add(share)
    access.audit(session, event_type="share.extend", action=audit.UPDATE, object_type="share", object_id=share.id)
    return share_out(session, settings, share)


def _active(session: Session, share: Share) -> None:
    if share_status(session, share) != "active":
        raise Forbidden("This share has ended.", code="share-ended", zh="此分享已结束。")


def link(*, session: Session, settings: Settings, principal: AccountPrincipal, share_id: str) -> ShareLink:
    """The link and QR code of an active share, again (issue 19 item 3) — for the patient who manages it
    only (the policy decides on every request; anyone else gets 404). Audited."""
    share, access = _managed(session, principal, share_id)
    _active(session, share)
    if share.token_cipher is None:
        raise NotFound("This share's link was not kept.", code="share-link-unavailable",
                       zh="此分享创建较早，链接无法再次显示，请新建分享。")
    token = decrypt(key=settings.secret_bytes("encryption_key"), ciphertext=share.token_cipher,
                    associated_data=TOKEN_AAD)
    access.audit(session, event_type="share.link.read", object_type="share", object_id=share.id)
    url = share_url(settings, token)
    qr = qr_images(url=url)
    return ShareLink(url=url, qr_svg=qr.svg, qr_png=qr.png_data_uri)


def reset_code(*, session: Session, principal: AccountPrincipal, share_id: str) -> ShareCodeReset:
    """A new access code for an active share (the old one is only a hash: it cannot be shown). The old
    code stops working at once; open sessions go on."""
    share, access = _managed(session, principal, share_id)
    _active(session, share)
    code = f"{secrets.randbelow(1_000_000):06d}"
    share.code_hash, share.updated_at = hash_secret(code), utcnow()
    session.add(share)
    access.audit(session, event_type="share.code.reset", action=audit.UPDATE, object_type="share",
                 object_id=share.id)
    return ShareCodeReset(access_code=code)
