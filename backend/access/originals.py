"""May this principal receive original files (Part-10 DICOM, bulk data)? Part of the access policy.

A doctor's share session receives originals only when the patient allowed downloads for the share
(``allow_download``), and only while the share is live — through any path: WADO-RS retrieve of a
study, series or instance, the ZIP downloads. Without it the doctor still sees rendered images (the
viewer's previews, DICOMweb /rendered and /thumbnail) and masked metadata. For every other principal
``dicomweb_study_filter`` alone decides (a hospital reads back the originals it uploaded; an account
sees nothing through DICOMweb). Asked before the study is looked at, so a refusal says nothing about it.
"""

from __future__ import annotations

from sqlmodel import Session

from backend.access.principals import Principal, SharePrincipal
from backend.errors import Forbidden
from backend.sharing import rules as share_rules


def may_retrieve_originals(*, session: Session, principal: Principal) -> bool:
    if isinstance(principal, SharePrincipal):
        share = share_rules.session_share(session, share_id=principal.share_id, session_id=principal.session_id)
        return share is not None and share.allow_download
    return True


def download_forbidden() -> Forbidden:
    return Forbidden("The patient did not allow downloads for this share.", code="share-download-forbidden",
                     zh="患者未允许下载原始影像。")


def require_originals(*, session: Session, principal: Principal) -> None:
    """Forbidden (403) unless :func:`may_retrieve_originals`."""
    if not may_retrieve_originals(session=session, principal=principal):
        raise download_forbidden()
