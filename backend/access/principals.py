"""Who is asking. Every request resolves to exactly one principal; nothing else carries identity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Anonymous:
    kind: str = "anonymous"

    @property
    def actor_id(self) -> str:
        return "-"


@dataclass(frozen=True, slots=True)
class AccountPrincipal:
    """A logged-in WeChat account (acting for itself, or for others through grants)."""

    account_id: str
    session_id: str | None = None
    kind: str = "account"

    @property
    def actor_id(self) -> str:
        return self.account_id


@dataclass(frozen=True, slots=True)
class SharePrincipal:
    """A doctor's browser holding a share session: sees exactly what one share covers."""

    share_id: str
    session_id: str
    kind: str = "share"

    @property
    def actor_id(self) -> str:
        return self.share_id


@dataclass(frozen=True, slots=True)
class InstitutionPrincipal:
    """A hospital system authenticated by API key: uploads, and reads back only what it uploaded."""

    institution_id: str
    key_id: str
    kind: str = "institution"

    @property
    def actor_id(self) -> str:
        return self.institution_id


@dataclass(frozen=True, slots=True)
class OperatorPrincipal:
    """The operator at the server's command line."""

    name: str = "operator"
    kind: str = "operator"

    @property
    def actor_id(self) -> str:
        return self.name


Principal = Anonymous | AccountPrincipal | SharePrincipal | InstitutionPrincipal | OperatorPrincipal
