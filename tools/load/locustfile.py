"""The load model (issue 18): patients, relatives, doctors, hospitals and WeChat, as they use the service.

Run by ``tools/load/run.py`` (``make load``); reads the population file named by ``LOAD_POPULATION`` and
appends every instance a hospital got a 200 for to ``LOAD_LEDGER`` (JSON lines with its sha256), so the
run can prove afterwards that nothing acknowledged was lost. docs/load.md gives the reason for each
weight and think time. Requests are named by what a person does ("preview image", "timeline"), so the
statistics group them the way the service levels are written.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from locust import FastHttpUser, HttpUser, between, constant, events, task
from locust.exception import StopUser
from pydicom import dcmread

from backend.clock import utcnow
from tools.load.browser import cookies, csrf, hospital, login, timeline_studies
from tools.load.population import Patient, Population, lab_body, report_body, seed_of, stow_request, study_files

POPULATION = Population.load(Path(os.environ["LOAD_POPULATION"]))
LEDGER = Path(os.environ.get("LOAD_LEDGER", "load-ledger.jsonl"))
UPLOAD_SLICES = int(os.environ.get("LOAD_UPLOAD_SLICES", "30"))  # a small CT per upload: the client builds it
SCROLL_LIMIT = int(os.environ.get("LOAD_SCROLL_LIMIT", "300"))  # a whole CT; the short run scrolls fewer
STOW_ATTEMPTS = 8  # a PACS gateway keeps a study until it is stored: minutes of retries, not seconds
# The client library (run.py --client): "requests" (Locust's HttpUser) or "fast" (FastHttpUser, on
# geventhttpclient: several times less client CPU a request; docs/load.md measures both).
CLIENT: type[HttpUser] | type[FastHttpUser] = FastHttpUser if os.environ.get("LOAD_CLIENT") == "fast" else HttpUser
_next_patient = itertools.count()
_next_hospital = itertools.count()


def _claim() -> Patient:
    return POPULATION.patients[next(_next_patient) % len(POPULATION.patients)]


def _log_in(user: Any, openid: str) -> None:
    """Log in as a person does: when the app says it cannot log in, they tap again a few seconds later
    (three tries). Each failed try stays in the statistics (requests named "login"); a user that cannot
    log in at all stops quietly instead of raising in on_start."""
    for attempt in range(3):
        try:
            login(user.client, base_url="", openid=openid, name="login")
            return
        except RuntimeError:
            time.sleep(2 + 3 * attempt)
    raise StopUser


def _journey_time(user: Any, name: str, started: float) -> None:
    """A figure no single request has (the first image of a study: detail + strip + first frame)."""
    elapsed_ms = (time.perf_counter() - started) * 1000
    user.environment.events.request.fire(request_type="JOURNEY", name=name, response_time=elapsed_ms,
                                         response_length=0, exception=None, context={})


def _answer(response: Any) -> dict[str, Any]:
    """A JSON answer's body, or {} when the request failed (already counted by Locust under its name): the
    person's journey stops there, as the app shows its error, instead of raising in the task."""
    if response.status_code != 200:
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {}


class _Viewer(CLIENT):  # type: ignore[valid-type,misc]
    abstract = True

    def open_study(self, person_id: str, study_id: str, *, frames: int, width: str = "512") -> dict[str, Any]:
        """Opens the study and scrolls it; returns its detail (the app offers the report's PDF only when
        the detail has a report: a study that just arrived may not have one yet)."""
        started = time.perf_counter()
        detail = _answer(self.client.get(f"/api/v1/people/{person_id}/studies/{study_id}", name="study detail"))
        series = [s for s in detail.get("series", []) if s.get("previews", {}).get("scrub")]
        if not series:
            return detail
        main = max(series, key=lambda s: s["instance_count"])
        scrub = _answer(self.client.get(main["previews"]["scrub"], name="scrub answer"))
        urls = scrub.get("frame_urls", [])
        if not urls:
            return detail
        ext = scrub["formats"]["jpeg"]
        middle = len(urls) // 2
        self.client.get(urls[middle].format(window="default", width=width, ext=ext), name="preview image")
        _journey_time(self, "first image of a study", started)
        for url in urls[:frames]:  # scrolling at about 10 slices per second
            self.client.get(url.format(window="default", width=width, ext=ext), name="preview image")
            time.sleep(0.1)
        windows = [w["id"] for w in scrub.get("windows", []) if w["id"] != "default"]
        if windows:  # switch the window (lung, bone…) and look at the middle again
            for url in urls[max(0, middle - 10):middle + 10]:
                self.client.get(url.format(window=windows[0], width=width, ext=ext), name="preview image")
                time.sleep(0.1)
        return detail


class PatientUser(_Viewer):
    """Opens the app, the timeline, a CT, scrolls it, switches the window, reads the report PDF and a
    lab trend; then puts the phone down for a while."""

    weight = 60
    wait_time = between(20, 60)

    def on_start(self) -> None:
        self.me = _claim()
        _log_in(self, self.me.openid)

    @task
    def journey(self) -> None:
        pid = self.me.person_id
        self.client.get("/api/v1/me", name="me")
        items = _answer(self.client.get(f"/api/v1/people/{pid}/timeline?limit=20", name="timeline")).get("items", [])
        studies = timeline_studies(items)
        if studies:
            study = random.choice(studies)
            detail = self.open_study(pid, study["ref_id"], frames=SCROLL_LIMIT)
            if detail.get("report"):
                self.client.get(f"/api/v1/people/{pid}/studies/{study['ref_id']}/report.pdf", name="report PDF")
        self.client.get(f"/api/v1/people/{pid}/labs/trends", name="lab trends")


class RelativeUser(_Viewer):
    """A son or daughter looking at a parent's new study through a grant, less often than the patient."""

    weight = 20
    wait_time = between(30, 90)

    def on_start(self) -> None:
        self.of = _claim()
        _log_in(self, self.of.relative_openid)

    @task
    def journey(self) -> None:
        people = _answer(self.client.get("/api/v1/me", name="me")).get("people", [])
        others = [p["id"] for p in people if p.get("relation") != "self"]
        if not others:
            return
        pid = others[0]
        items = _answer(self.client.get(f"/api/v1/people/{pid}/timeline?limit=20", name="timeline")).get("items", [])
        studies = timeline_studies(items)
        if studies:
            self.open_study(pid, studies[0]["ref_id"], frames=min(SCROLL_LIMIT, 40))


class DoctorUser(_Viewer):
    """A doctor on a desktop: opens the share with its code, reads full-size images, downloads the ZIP
    about one time in ten (to import into the hospital's PACS)."""

    weight = 15
    wait_time = between(30, 120)

    @task
    def read_share(self) -> None:
        share = _claim()
        cookies(self.client).clear()
        token_path = "/" + share.share_url.split("/", 3)[3]
        self.client.get(token_path, name="share page")
        opened = self.client.post(f"{token_path}/session", json={"access_code": share.share_code},
                                  headers=csrf(self.client), name="share open")
        if opened.status_code >= 400:
            return
        session = _answer(self.client.get("/api/v1/share/session", name="share session"))
        for study in session.get("studies", [])[:1]:
            self.open_study(session["person_id"], study["id"], frames=min(SCROLL_LIMIT, 60), width="1024")
            if study.get("download_url") and random.random() < 0.1:
                # Locust 2.x needs catch_response for a with-block; the status decides as for any request.
                with self.client.get(study["download_url"], name="share ZIP", stream=True,
                                     catch_response=True) as res:
                    for _ in res.iter_content(1 << 20):
                        pass
                    if res.status_code >= 400:
                        res.failure(f"HTTP {res.status_code}")
                    else:
                        res.success()


class HospitalUser(CLIENT):  # type: ignore[valid-type,misc]
    """A hospital's PACS gateway sending studies all day: a study, then its report and a lab panel."""

    fixed_count = int(os.environ.get("LOAD_HOSPITALS", "4"))
    network_timeout = 120.0  # FastHttpUser's (60 s by default): the STOW's 120 s of the requests client
    wait_time = between(5, 15)

    def on_start(self) -> None:
        self.index = next(_next_hospital) % len(POPULATION.hospitals)
        self.key = POPULATION.hospitals[self.index].key
        self.patients = [p for p in POPULATION.patients if p.hospital == self.index] or POPULATION.patients[:1]
        self.sent = 0
        self.work = Path(tempfile.mkdtemp(prefix="yy-load-hospital-"))

    def _stow(self, paths: list[Path]) -> int:
        """STOW-RS, retried as a PACS gateway (and `yunying upload`) does when the answer is 502/503/504
        or the connection drops: a node dying mid-upload. Storing the same instances again is safe
        (idempotent by SOP Instance UID). An interrupted attempt is kept in the statistics under its own
        name, not as a failure: the hospital saw its study stored."""
        body, headers = stow_request(key=self.key, paths=paths)
        status = 0
        for attempt in range(STOW_ATTEMPTS):
            name = "STOW" if attempt == 0 else "STOW (retry)"
            timeout = {} if CLIENT is FastHttpUser else {"timeout": 120}  # FastHttpUser: network_timeout
            with self.client.post("/dicomweb/studies", data=body, headers=headers, name=name, catch_response=True,
                                  **timeout) as res:
                status = res.status_code
                if status in (0, 502, 503, 504) and attempt < STOW_ATTEMPTS - 1:
                    res.success()
                    self.environment.events.request.fire(request_type="POST", name="STOW interrupted (retried)",
                                                         response_time=0, response_length=0, exception=None,
                                                         context={})
                    # As a gateway does: after the server's Retry-After when it sent one (a store or
                    # database briefly gone), else backing off; at most 30 s between tries.
                    after = res.headers.get("retry-after", "") if res.headers else ""
                    time.sleep(min(30, int(after) if after.isdigit() else 2 ** attempt))
                    continue
                return status
        return status

    @task
    def send_study(self) -> None:
        patient = random.choice(self.patients)
        self.sent += 1
        seed = seed_of(POPULATION.run, "upload", self.index, self.sent)
        when = utcnow() - timedelta(hours=2)
        paths = study_files(out_dir=self.work / str(seed), seed=seed, local_id=patient.local_id, name="负载患者",
                            resident_id=None, sex="M", birth=date(1970, 1, 1), when=when,
                            hospital_name=POPULATION.hospitals[self.index].name, slices=UPLOAD_SLICES, size=256)
        first = dcmread(paths[0], stop_before_pixels=True)
        if self._stow(paths) == 200:
            with LEDGER.open("a", encoding="utf-8") as ledger:
                for path in paths:
                    uid = str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
                    ledger.write(json.dumps({"study": str(first.StudyInstanceUID), "instance": uid,
                                             "series": str(first.SeriesInstanceUID),
                                             "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                             "hospital": self.index}) + "\n")
        for path in paths:
            path.unlink()
        study_uid = str(first.StudyInstanceUID)
        self.client.put(f"/api/v1/institution/reports/by-study-uid/{study_uid}", headers=hospital(self.key),
                        json=report_body(study_uid=study_uid, local_id=patient.local_id, when=when),
                        name="hospital report")
        self.client.put(f"/api/v1/institution/lab-reports/{patient.local_id}-{seed}", headers=hospital(self.key),
                        json=lab_body(local_id=patient.local_id, when=when, glucose=round(4 + random.random() * 4, 1)),
                        name="hospital lab")


class WeChatUser(CLIENT):  # type: ignore[valid-type,misc]
    """WeChat's servers pushing events (follows, menu clicks, messages) to the callback."""

    weight = 5
    wait_time = constant(10)

    @task
    def push(self) -> None:
        patient = _claim()
        event: dict[str, Any] = random.choice([{"event": "subscribe"}, {"event": "CLICK", "event_key": "MY_RECORDS"},
                               {"msg_type": "text", "event": None, "content": "报告"}])
        # WeChat fixes a message's identity when it makes it (MsgId; CreateTime, which with the sender keys
        # an event) and sends the same again when it retries — as the proxy does when a node died with the
        # push in flight (deploy/nginx): our callback drops the second copy.
        identity: dict[str, Any] = {"create_time": int(time.time())}
        if event.get("msg_type") == "text":
            identity["msg_id"] = random.randrange(1, 10**15)
        self.client.post("/_sim/wechat/push", json={"openid": patient.openid, **event, **identity},
                         name="wechat push")


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    del parser  # settings come from the environment (LOAD_*), so the same file serves make load and tests
