"""The authorization matrix: EVERY route of the app (from its route table) × every kind of actor.

Each row is keyed by (method, path template) and states the expected status for every actor.
A route without a row fails ``test_every_route_has_a_row`` — adding a route means adding its row
here (usually one line with a preset below). Unknown and forbidden person objects both answer 404.

Columns (actors), all holding real credentials:
  owner        the patient's own account (the patient is 14: old enough to bind themself)
  proxy        a relative with an active grant, scope "all"
  narrow       a relative with an active grant limited to lab results
  revoked      a relative whose grant was revoked
  expired      a relative whose grant expired
  pending14    a guardian grant made before the 14th birthday, not yet confirmed by the teenager
  stranger     an account bound to another person
  unbound      an account bound to no one, no grants
  share        a doctor's share session for *another* study — "share" cells are filled when sharing lands
  institution  the hospital (API key) that uploaded the patient's data
  anonymous    no credentials
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from tests.access import matrix_world
from tests.access.matrix_world import World
from tests.family import helpers as h

ACTORS = ("owner", "proxy", "narrow", "revoked", "expired", "pending14", "stranger", "unbound", "share",
          "institution", "anonymous")
SHARE = "share"  # a cell to fill when share sessions exist
EMPTY = "200 []"  # 200 with an empty JSON list: searched, found nothing
Cells = dict[str, int | str]


def cells(**statuses: int | str) -> Cells:
    missing = set(ACTORS) - set(statuses)
    assert not missing and set(statuses) <= set(ACTORS), f"cells need every actor; missing {missing}"
    return dict(statuses)


def person(*, narrow: int = 200, ok: int = 200, proxy: int | None = None, owner: int | None = None,
           share: int | str = 404, anonymous: int = 404) -> Cells:
    """A route on one person's data through the policy: the owner and the valid proxies read, every
    other actor gets 404 as if the person did not exist. ``share``: the doctor's session for the
    person's *other* study — 404 on this study's objects, 200 on person-wide lists (which then hold
    only the shared study)."""
    return cells(owner=ok if owner is None else owner, proxy=ok if proxy is None else proxy, narrow=narrow,
                 revoked=404, expired=404, pending14=404, stranger=404, unbound=404, share=share, institution=404,
                 anonymous=anonymous)


def accounts(ok: int, *, institution: int = 401, anonymous: int = 401, **over: int | str) -> Cells:
    """A route for any logged-in account (its own things only)."""
    base: dict[str, int | str] = {a: ok for a in ACTORS}
    base.update(share=401, institution=institution, anonymous=anonymous)  # a share session is not an account
    base.update(over)
    return cells(**base)


def everyone(status: int, **over: int | str) -> Cells:
    base: dict[str, int | str] = {a: status for a in ACTORS}
    base.update(over)
    return cells(**base)


def hospital(ok: int, *, others: int | str = 401, **over: int | str) -> Cells:
    """A route for hospital systems (API key); browsers and anonymous callers are refused."""
    base: dict[str, int | str] = {a: others for a in ACTORS}
    base.update(institution=ok)
    base.update(over)
    return cells(**base)


def dicomweb(ok: int = 200) -> Cells:
    """DICOMweb retrieval: the uploading hospital reads; for every browser actor the study does not
    exist (404: accounts read through the JSON API and its policy, not DICOMweb); no key: 401."""
    return hospital(ok, others=404, anonymous=401)


def dicomweb_retrieve() -> Cells:
    """WADO-RS retrieval of original files: as ``dicomweb``, but the share (made without downloads)
    is refused before the study is looked at (403, issue 15 item 2)."""
    return hospital(200, others=404, anonymous=401, share=403)


def dicomweb_search(*, share: int | str = EMPTY) -> Cells:
    """QIDO-RS searches: the hospital finds its studies; everyone else gets an empty result (a share
    session finds its own study in a search over everything, nothing inside this study)."""
    return hospital(200, others=EMPTY, anonymous=401, share=share)


@dataclass(frozen=True)
class Req:
    """How to call a route: body, query, and path parameters made fresh per cell (for rows whose
    success changes state), plus an optional repair after each cell."""

    json: Any = None
    params: dict[str, str] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    rename: dict[str, str] = field(default_factory=dict)  # path param → world param it takes its value from
    fresh: Callable[[World], dict[str, str]] | None = None
    repair: Callable[[World], None] | None = None


def _fresh_request(w: World) -> dict[str, str]:
    return w.fresh_pending_request()


def _fresh_grant(w: World) -> dict[str, str]:
    return w.fresh_active_grant()


def _fresh_invitation(w: World) -> dict[str, str]:
    return w.fresh_invitation()


def _fresh_share(w: World) -> dict[str, str]:
    return w.fresh_share()


def _share_body(w: World) -> dict[str, Any]:
    return {"study_ids": [w.params["other_study_id"]], "expires_in": "24h"}


def _rebind(w: World) -> None:
    w.rebind()


_SEQ = itertools.count(100)


def nobody(*, age: int = 50) -> dict[str, str]:
    """A valid resident ID nobody has — a new one per call, so per-ID rate limits never mix cells."""
    return {"name": "查无此人", "resident_id": h.rid_for(h.years_ago(age), sequence=next(_SEQ) % 500)}


BAD_OTP = {"otp": "000000"}
DCM = "/dicomweb/studies"
API = "/api/v1"
P = "/api/v1/people/{person_id}"

MATRIX: dict[tuple[str, str], tuple[Cells, Req]] = {
    # --- public and infrastructure --------------------------------------------------------------
    ("GET", "/openapi.json"): (everyone(200), Req()),
    ("GET", "/docs"): (everyone(200), Req()),
    ("GET", "/docs/oauth2-redirect"): (everyone(200), Req()),
    ("GET", "/healthz"): (everyone(200), Req()),
    ("GET", "/{path:path}"): (everyone(200), Req()),  # the PWA shell: no data in it
    # --- WeChat login and message endpoint (no person data) ------------------------------------
    ("GET", "/auth/wechat/start"): (everyone(302), Req()),
    # without code/state: an error page; a browser that is already logged in goes home instead
    ("GET", "/auth/wechat/callback"): (everyone(302, institution=400, anonymous=400, share=400), Req()),
    # no session cookie → no CSRF cookie to match: 403 before anything else
    ("POST", "/auth/refresh"): (everyone(401, institution=403, anonymous=403, share=403), Req()),
    ("POST", "/auth/logout"): (everyone(204, institution=403, anonymous=403, share=403), Req()),
    ("GET", "/wechat/callback"): (everyone(400), Req()),  # unsigned: refused, whoever asks
    ("POST", "/wechat/callback"): (everyone(400), Req()),
    # --- the WeChat simulator (development/test only; refused in production by config) ---------
    # (WeChat's own API answers errors as 200 + errcode, and the simulator imitates that)
    ("GET", "/_sim/wechat/connect/oauth2/authorize"): (everyone(400), Req()),
    ("GET", "/_sim/wechat/sns/oauth2/access_token"): (everyone(200), Req()),
    ("GET", "/_sim/wechat/sns/userinfo"): (everyone(200), Req()),
    ("POST", "/_sim/wechat/cgi-bin/stable_token"): (everyone(200), Req()),
    ("GET", "/_sim/wechat/cgi-bin/ticket/getticket"): (everyone(200), Req()),
    ("POST", "/_sim/wechat/cgi-bin/message/template/send"): (everyone(200), Req()),
    ("POST", "/_sim/wechat/cgi-bin/menu/create"): (everyone(200), Req()),
    ("GET", "/_sim/wechat/inbox"): (everyone(200), Req()),
    ("POST", "/_sim/wechat/control"): (everyone(422), Req()),
    ("GET", "/_sim/wechat/stats"): (everyone(200), Req()),
    ("POST", "/_sim/wechat/face/verify"): (everyone(422), Req()),
    ("POST", "/_sim/wechat/cityservice/face/identify/getinfo"): (everyone(200), Req()),  # WeChat's errcode JSON
    ("POST", "/_sim/wechat/push"): (everyone(422), Req()),
    # --- DICOMweb: hospitals see what they uploaded; shares get their study (when sharing lands) -
    ("POST", DCM): (hospital(415), Req()),
    ("POST", DCM + "/{study}"): (hospital(415), Req()),
    ("GET", DCM): (dicomweb_search(share=200), Req()),
    ("GET", "/dicomweb/series"): (dicomweb_search(share=200), Req()),
    ("GET", "/dicomweb/instances"): (dicomweb_search(share=200), Req()),
    ("GET", DCM + "/{study}"): (dicomweb_retrieve(), Req()),
    ("GET", DCM + "/{study}/metadata"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series"): (dicomweb_search(), Req()),
    ("GET", DCM + "/{study}/instances"): (dicomweb_search(), Req()),
    ("GET", DCM + "/{study}/rendered"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/thumbnail"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}"): (dicomweb_retrieve(), Req()),
    ("GET", DCM + "/{study}/series/{series}/metadata"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}/instances"): (dicomweb_search(), Req()),
    ("GET", DCM + "/{study}/series/{series}/rendered"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}/thumbnail"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}/instances/{instance}"): (dicomweb_retrieve(), Req()),
    ("GET", DCM + "/{study}/series/{series}/instances/{instance}/metadata"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}/instances/{instance}/rendered"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}/instances/{instance}/thumbnail"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered"):
        (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}/instances/{instance}/frames/{frames}"): (dicomweb(), Req()),
    ("GET", DCM + "/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail"):
        (dicomweb(), Req()),
    # --- hospital feeds (idempotent upserts with the same body as the world's) -----------------
    ("PUT", API + "/institution/patients/{local_patient_id}"):
        (hospital(200), Req(json=lambda w: {"resident_id": w.params["resident_id"], "name": "张小华"})),
    ("PUT", API + "/institution/reports/{accession_number}"): (hospital(200), Req(json=matrix_world.REPORT)),
    ("PUT", API + "/institution/reports/by-study-uid/{study_instance_uid}"):
        (hospital(201), Req(json=matrix_world.REPORT)),  # first PUT by study UID: 201
    ("GET", API + "/institution/reports/{accession_number}"): (hospital(200), Req()),
    ("GET", API + "/institution/reports/{accession_number}/versions"): (hospital(200), Req()),
    ("PUT", API + "/institution/lab-reports/{report_id}"): (hospital(200), Req(json=matrix_world.LAB)),
    ("PUT", API + "/institution/checkups/{checkup_id}"):
        (hospital(200), Req(json=matrix_world.CHECKUP, rename={"checkup_id": "checkup_local"})),
    # --- a person's records: the policy decides (scope: narrow = lab results only) ------------
    ("GET", P + "/timeline"): (person(narrow=200, share=200), Req()),
    ("GET", API + "/record-kinds"): (everyone(200), Req()),
    ("GET", P + "/studies/{study_id}"): (person(narrow=404), Req()),
    ("GET", P + "/studies/{study_id}/priors"): (person(narrow=404), Req()),
    ("GET", P + "/previews/{instance_id}/{frame}/{window}/{name}"):
        (person(narrow=404), Req(rename={"name": "preview_name"})),
    ("GET", P + "/series/{series_id}/scrub"): (person(narrow=404), Req()),
    ("GET", P + "/series/{series_id}/scrub/{window}/{key}/{name}"): (person(narrow=404), Req()),
    ("GET", P + "/labs/trends"): (person(narrow=200, share=200), Req()),
    ("GET", P + "/reminders"): (person(narrow=200, share=200), Req()),  # issue 19: policy-filtered
    ("GET", P + "/labs/{lab_id}"): (person(narrow=200), Req()),
    ("GET", P + "/checkups/{checkup_id}"): (person(narrow=404), Req()),
    ("GET", P + "/checkups/vitals"): (person(narrow=200, share=200), Req()),  # issue 19: policy-filtered
    ("GET", P + "/export/fhir"): (person(narrow=200, share=200), Req()),
    ("GET", P + "/studies/{study_id}/report.pdf"): (person(narrow=404), Req()),
    ("GET", P + "/studies/{study_id}/report/pages"): (person(narrow=404), Req()),  # issue 19 item 6
    ("GET", P + "/studies/{study_id}/report/pages/{page}.png"): (person(narrow=404),
                                                                Req(fresh=lambda w: {"page": "1"})),
    ("GET", P + "/labs/{lab_id}/report.pdf"): (person(narrow=200), Req()),
    # issue 19 item 6: the checkup's PDF and its pages, the checkup's own decision (narrow: labs only)
    ("GET", P + "/checkups/{checkup_id}/report.pdf"): (person(narrow=404), Req()),
    ("GET", P + "/checkups/{checkup_id}/report/pages"): (person(narrow=404), Req()),
    ("GET", P + "/checkups/{checkup_id}/report/pages/{page}.png"): (person(narrow=404),
                                                                   Req(fresh=lambda w: {"page": "1"})),
    ("GET", P + "/summary.pdf"): (person(narrow=200, share=200), Req()),
    ("GET", "/v/{code:path}"): (everyone(404), Req()),  # public verification page; an unknown code
    # --- sharing: the person (not proxies, by default) shares; a doctor's session reads -------
    ("POST", P + "/shares"): (person(ok=201, proxy=403, narrow=403), Req(json=_share_body)),
    ("GET", P + "/shares"): (person(proxy=403, narrow=403, share=403), Req()),
    ("DELETE", API + "/shares/{share_id}"): (everyone(404, owner=204), Req(fresh=_fresh_share)),
    ("POST", API + "/shares/{share_id}/extend"): (everyone(404, owner=200),
                                                  Req(json={"expires_in": "72h"}, fresh=_fresh_share)),
    # issue 19: the link again, a new access code: the sharer only, everyone else the same 404
    ("GET", API + "/shares/{share_id}/link"): (everyone(404, owner=200), Req(fresh=_fresh_share)),
    ("POST", API + "/shares/{share_id}/access-code"): (everyone(404, owner=200), Req(fresh=_fresh_share)),
    ("GET", API + "/share/session"): (everyone(401, share=200), Req()),
    ("GET", API + "/share/download.zip"): (everyone(401, share=403), Req()),  # made without download
    # the share was made without download: refused before the study is even looked at
    ("GET", API + "/share/studies/{study_id}/download.zip"): (everyone(401, share=403), Req()),
    # a GET never opens: the entry page with its button; the doctor already in is sent on to the view
    ("GET", "/s/{token}"): (everyone(200, share=303), Req(rename={"token": "share_token"})),
    ("POST", "/s/{token}/session"): (everyone(200), Req(json={}, rename={"token": "share_token"})),
    # --- the account ---------------------------------------------------------------------------
    ("GET", API + "/me"): (accounts(200), Req()),
    ("POST", API + "/me/binding/otp"): (accounts(409, unbound=200, proxy=200, narrow=200, revoked=200, expired=200,
                                                 pending14=200, anonymous=401), Req(json=lambda w: nobody())),
    ("POST", API + "/me/binding"): (accounts(400, anonymous=401),
                                    Req(json=lambda w: {**nobody(), **BAD_OTP, "consent_version": "2026-11"})),
    ("DELETE", API + "/me/binding"): (accounts(204, anonymous=401), Req(repair=_rebind)),
    # WeChat (face verification verdicts) is unreachable in these tests: 503 for every account
    ("POST", API + "/me/binding/realname"): (accounts(503, anonymous=401), Req(json=lambda w: {
        **nobody(), "verify_result": f"vr-{next(_SEQ)}", "consent_version": "2026-11"})),
    ("GET", API + "/me/consents"): (accounts(200), Req()),
    # no person data; in tests WeChat itself is unreachable (503) whoever asks
    ("GET", API + "/wechat/jssdk-config"): (everyone(503), Req(params={"url": "http://testserver/timeline"})),
    # --- family access -------------------------------------------------------------------------
    ("POST", P + "/invitations"): (person(ok=201, proxy=403, narrow=403), Req(json={"relationship": "child"})),
    ("GET", API + "/invitations/{token}"): (accounts(200), Req()),
    ("POST", API + "/invitations/{token}/accept"): (accounts(201, anonymous=401), Req(fresh=_fresh_invitation)),
    ("POST", API + "/grant-requests"): (accounts(202, anonymous=401),
                                        Req(json=lambda w: {**nobody(), "relationship": "child"})),
    ("POST", API + "/grants/{grant_id}/confirm"): (accounts(404, owner=200, anonymous=401),
                                                   Req(fresh=_fresh_request)),
    ("POST", API + "/grants/{grant_id}/decline"): (accounts(404, owner=200, anonymous=401),
                                                   Req(fresh=_fresh_request)),
    ("GET", P + "/grants"): (person(narrow=200), Req()),  # a share session: 404 (not an account)
    ("GET", API + "/grants"): (accounts(200), Req()),
    ("DELETE", API + "/grants/{grant_id}"): (accounts(404, owner=204, anonymous=401), Req(fresh=_fresh_grant)),
    # issue 19 item 4: what one relative sees, set by the person only
    ("PUT", API + "/grants/{grant_id}/visibility"): (accounts(404, owner=200, anonymous=401),
                                                     Req(json={"scope": "imaging"}, fresh=_fresh_grant)),
    ("POST", API + "/guardianships/otp"): (accounts(200, anonymous=401),
                                           Req(json=lambda w: nobody(age=6))),
    ("POST", API + "/guardianships"): (accounts(400, anonymous=401), Req(json=lambda w: {
        **nobody(age=6), "relationship": "parent", **BAD_OTP})),
    ("POST", API + "/elder-proxies/otp"): (accounts(200, anonymous=401), Req(json=lambda w: nobody())),
    ("POST", API + "/elder-proxies"): (accounts(400, anonymous=401), Req(json=lambda w: {
        **nobody(), **BAD_OTP, "relationship": "child", "consent_statement": "本人同意家人代为查看检查结果"})),
    ("GET", P + "/access-log"): (person(proxy=404, narrow=404), Req()),
    # --- contacts: the person's own (a relative neither sees nor decides where identity codes go) ---
    ("GET", P + "/contacts"): (person(proxy=404, narrow=404), Req()),
    ("POST", P + "/phone-changes/{change_id}/{decision}"):
        (everyone(404), Req(fresh=lambda w: {"change_id": "no-such-change", "decision": "reject"})),
    ("POST", API + "/me/phone/otp"): (accounts(403, owner=200, stranger=200, anonymous=401),
                                      Req(json={"phone": "13700009999"})),
    ("POST", API + "/me/phone"): (accounts(403, owner=400, stranger=400, anonymous=401),
                                  Req(json={"phone": "13700009998", **BAD_OTP})),
}


def app_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, str(route.path)))
    return found


def test_every_route_has_a_row(app: Any) -> None:
    missing = [r for r in app_routes(app) if r not in MATRIX]
    assert not missing, "routes without a row in tests/access/test_matrix.py MATRIX: " + ", ".join(
        f"{m} {p}" for m, p in missing)
    for key, (row, _) in MATRIX.items():
        assert set(row) == set(ACTORS), f"{key} lacks a cell"


def _url(world: World, path: str, req: Req, fresh: dict[str, str]) -> str:
    values = {**world.params, **{k: world.params.get(v, "") for k, v in req.rename.items()}, **fresh}
    out = path
    while "{" in out:
        start = out.index("{")
        name = out[start + 1:out.index("}", start)]
        out = out.replace("{" + name + "}", values.get(name.split(":")[0], "x"), 1)
    return out


def _run(world: World, actors: tuple[str, ...]) -> list[str]:
    client = world.client
    problems = []
    for key in app_routes(client.app):
        if key not in MATRIX:
            continue  # reported by test_every_route_has_a_row
        row, req = MATRIX[key]
        method, path = key
        for actor in actors:
            expected = row[actor]
            if expected == SHARE:
                continue
            fresh = req.fresh(world) if req.fresh else {}
            client.cookies.clear()
            body = req.json(world) if callable(req.json) else req.json
            res = client.request(method, _url(world, path, req, fresh), headers={**world.headers(actor), **req.headers},
                                 json=body, params=req.params, content=req.content, follow_redirects=False)
            got: int | str = res.status_code
            if expected == EMPTY and res.status_code == 200:
                got = EMPTY if res.json() == [] else f"200 with results {res.text[:80]!r}"
            if got != expected:
                problems.append(f"{method} {path} as {actor}: expected {expected}, got {res.status_code} "
                                f"{res.text[:120]!r}")
            if req.repair:
                req.repair(world)
    return problems


def test_matrix(client: Any, engine: Any, settings: Any) -> None:
    world = matrix_world.build(client, engine, settings)
    problems = _run(world, tuple(a for a in ACTORS if a != "share" or world.share_secret))
    assert not problems, f"{len(problems)} cells differ:\n" + "\n".join(problems)


def test_matrix_share_column(app: Any) -> None:
    """Share sessions start at ``POST /s/{token}/session`` (CONTRACT.md). Until that route exists no
    share principal can be made and the column is skipped; once it does, this fails until World gets
    a 'share' actor (a session for another study) and the "share" cells hold real statuses."""
    if ("POST", "/s/{token}/session") not in app_routes(app):
        pytest.skip("no share sessions yet: the 'share' column is filled when sharing lands")
    unfilled = [key for key, (row, _) in MATRIX.items() if row["share"] == SHARE]
    assert not unfilled, f"fill the share column: {len(unfilled)} cells still say 'share'"
