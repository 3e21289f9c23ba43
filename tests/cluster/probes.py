"""What users see while a part of the cluster is down: a loop of the requests people make — a patient's
timeline and a preview image, a new login, a doctor opening a share with its code, a hospital's STOW-RS
of a small study — recorded with status, Retry-After and problem code; and a ledger of every instance a
hospital got a 200 for, to prove afterwards that nothing acknowledged was lost.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import requests
from pydicom import dcmread

from tools.load.browser import csrf, hospital, login
from tools.load.population import Population, lab_body, report_body, stow
from tools.load.run import lost_instances
from tools.synthetic import write_ct_series

KINDS = ("timeline", "preview", "login", "share", "stow")


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic()
    kind: str
    status: int  # 0: no answer at all (connection refused or reset, timeout)
    retry_after: str | None
    code: str | None


@dataclass
class Window:
    """One fault: when it began, when the part answered again, and what users saw meanwhile and after."""

    name: str
    start: float
    down: float | None = None  # when the part was down (the stop returned)
    starting: float | None = None  # when its start began (it may answer before the start returns)
    back: float | None = None
    normal: float | None = None  # first moment after ``back`` from which every kind answered as usual
    seen: list[Seen] = field(default_factory=list)

    def errors(self) -> dict[str, int]:
        """``"kind status code"`` → count, for every answer that was not a success."""
        return dict(Counter(f"{s.kind} {s.status} {s.code or ''}".strip() for s in self.seen if not ok(s)))

    def summary(self) -> dict[str, object]:
        return {"fault": self.name, "down_s": None if self.back is None else round(self.back - self.start, 1),
                "normal_after_back_s": None if self.normal is None or self.back is None
                else round(self.normal - self.back, 1), "requests": len(self.seen), "errors": self.errors()}


def ok(seen: Seen) -> bool:
    return 200 <= seen.status < 400


class Probes:
    def __init__(self, *, url: str, population: Population, work: Path) -> None:
        self.url, self.people, self.work = url, population, work
        self.patient = population.patients[0]
        self.key = population.hospitals[self.patient.hospital].key
        self.http = requests.Session()
        login(self.http, base_url=url, openid=self.patient.openid)
        self.preview_url = self._preview_url()
        self.ledger = work / "ledger.jsonl"
        self.logins = 0
        self.studies = 0
        self.refused: list[list[Path]] = []  # studies a STOW was refused for: the hospital sends them again

    def _preview_url(self) -> str:
        pid = self.patient.person_id
        items = self.http.get(f"{self.url}/api/v1/people/{pid}/timeline?limit=20", timeout=30).json()["items"]
        study = next(i for i in items if i["kind"] == "imaging_study")
        detail = self.http.get(f"{self.url}/api/v1/people/{pid}/studies/{study['ref_id']}", timeout=30).json()
        series = next(s for s in detail["series"] if s.get("previews", {}).get("scrub"))
        scrub = self.http.get(self.url + series["previews"]["scrub"], timeout=30).json()
        urls = scrub["frame_urls"]
        return str(self.url + urls[len(urls) // 2].format(window="default", width="512", ext=scrub["formats"]["jpeg"]))

    # -- one request of each kind ----------------------------------------------------------------------
    def once(self, kind: str, *, url: str | None = None) -> Seen:
        try:
            res = getattr(self, f"_{kind}")(url or self.url)
        except requests.RequestException:
            return Seen(time.monotonic(), kind, 0, None, None)
        code = None
        if res.headers.get("content-type", "").startswith("application/problem+json"):
            code = res.json().get("code")
        elif res.status_code >= 400 and "data-problem=" in res.text:  # the login's problem pages
            code = res.text.split('data-problem="', 1)[1].split('"', 1)[0]
        elif res.status_code >= 400 and "<h1>" in res.text:  # the share pages: the heading says what is wrong
            code = "page:" + res.text.split("<h1>", 1)[1].split("</h1>", 1)[0]
        return Seen(time.monotonic(), kind, res.status_code, res.headers.get("retry-after"), code)

    def _timeline(self, url: str) -> requests.Response:
        return self.http.get(f"{url}/api/v1/people/{self.patient.person_id}/timeline?limit=20", timeout=30)

    def _preview(self, url: str) -> requests.Response:
        return self.http.get(self.preview_url.replace(self.url, url, 1), timeout=30)

    def _login(self, url: str) -> requests.Response:
        """A first login: the WeChat dance up to our callback, whose answer is what the person sees."""
        self.logins += 1
        http = requests.Session()
        start = http.get(f"{url}/auth/wechat/start?" + urlencode({"next": "/"}), allow_redirects=False, timeout=30)
        if start.status_code != 302:
            return start
        location = start.headers["location"]
        code = http.get(location + ("&" if "?" in location else "?") + urlencode(
            {"sim_user": f"{self.patient.openid}-probe{self.logins}"}), allow_redirects=False, timeout=30)
        if code.status_code != 302:
            return code
        return http.get(code.headers["location"], allow_redirects=False, timeout=30)

    def _share(self, url: str) -> requests.Response:
        doctor = requests.Session()
        path = "/" + self.patient.share_url.split("/", 3)[3]
        page = doctor.get(url + path, timeout=30)
        if page.status_code >= 400:
            return page
        return doctor.post(f"{url}{path}/session", json={"access_code": self.patient.share_code},
                           headers=csrf(doctor), timeout=30)

    def new_study(self, slices: int = 2) -> list[Path]:
        self.studies += 1
        return write_ct_series(out_dir=self.work / f"s{self.studies}", seed=900 + self.studies, slices=slices,
                               size=32)

    def send(self, paths: list[Path], *, url: str | None = None) -> requests.Response:
        res = stow(requests.Session(), base_url=url or self.url, key=self.key, paths=paths, timeout=60)
        if res.status_code == 200:
            with self.ledger.open("a", encoding="utf-8") as out:
                for path in paths:
                    head = dcmread(path, stop_before_pixels=True)
                    out.write(json.dumps({"hospital": self.patient.hospital, "study": str(head.StudyInstanceUID),
                                          "series": str(head.SeriesInstanceUID),
                                          "instance": str(head.SOPInstanceUID),
                                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}) + "\n")
        else:
            self.refused.append(paths)
        return res

    def _stow(self, url: str) -> requests.Response:
        return self.send(self.new_study(), url=url)

    # -- the writes a dying node may have in flight (each answers (kind, status)) ------------------------
    def doctor(self) -> tuple[requests.Session, str]:
        """A doctor's browser on the share's page (its CSRF cookie set), ready to send the code."""
        doctor = requests.Session()
        path = "/" + self.patient.share_url.split("/", 3)[3]
        page = doctor.get(self.url + path, timeout=30)
        assert page.status_code == 200, page.text[:300]
        return doctor, path

    def share_open(self, doctor: tuple[requests.Session, str]) -> tuple[str, int]:
        http, path = doctor
        res = http.post(f"{self.url}{path}/session", json={"access_code": self.patient.share_code},
                        headers=csrf(http), timeout=60)
        return "share open", res.status_code

    def hospital_lab(self, n: int) -> tuple[str, int]:
        res = requests.put(f"{self.url}/api/v1/institution/lab-reports/{self.patient.local_id}-inflight-{n}",
                           headers=hospital(self.key), timeout=60,
                           json=lab_body(local_id=self.patient.local_id, when=datetime.now(UTC), glucose=5.0 + n / 10))
        return "hospital lab", res.status_code

    def report(self) -> dict[str, object]:
        """The final report of the patient's study, as the hospital's RIS sends it (again and again)."""
        return report_body(study_uid=self.patient.study_uids[0], local_id=self.patient.local_id,
                           when=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def hospital_report(self, body: dict[str, object]) -> tuple[str, int]:
        uid = self.patient.study_uids[0]
        res = requests.put(f"{self.url}/api/v1/institution/reports/by-study-uid/{uid}", headers=hospital(self.key),
                           json=body, timeout=60)
        return "hospital report", res.status_code

    def wechat_push(self, msg_id: int) -> tuple[str, int]:
        """WeChat's push through the simulator; the status is our callback's answer to it (0: none)."""
        res = requests.post(f"{self.url}/_sim/wechat/push", timeout=60, json={
            "openid": self.patient.openid, "msg_type": "text", "event": None, "content": "报告", "msg_id": msg_id,
            "create_time": int(time.time())})
        inner = res.json().get("status") if res.status_code == 200 else None
        return "wechat push", res.status_code if inner is None or res.status_code != 200 else int(inner)

    def stow_once(self) -> tuple[str, int]:
        """A hospital's STOW-RS; streamed through the proxy, so a cut one is sent again by the hospital."""
        paths = self.new_study()
        first = self.send(paths).status_code
        if first in (502, 503):
            self.refused.remove(paths)
            again = self.send(paths).status_code
            return f"stow (sent again after {first})", again
        return "stow", first

    # -- a fault ----------------------------------------------------------------------------------------
    def watch(self, name: str, *, down: object, up: object, hold_s: float, kinds: tuple[str, ...] = KINDS,
              normal_timeout_s: float = 90) -> Window:
        """Probe in a loop while ``down()`` runs, for ``hold_s`` more, while ``up()`` runs, and until every
        kind answers as usual again: ``normal`` is the start of the first of three clean cycles in a row."""
        window = Window(name=name, start=time.monotonic())
        stop = threading.Event()
        cycles: list[tuple[float, bool]] = []  # (start, every kind answered as usual)

        def loop() -> None:
            while not stop.is_set():
                began = time.monotonic()
                answers = [self.once(kind) for kind in kinds]
                window.seen.extend(answers)
                cycles.append((began, all(ok(a) for a in answers)))
                time.sleep(0.2)

        prober = threading.Thread(target=loop, daemon=True)
        prober.start()
        down()  # type: ignore[operator]
        window.down = time.monotonic()
        time.sleep(hold_s)
        window.starting = time.monotonic()
        up()  # type: ignore[operator]
        window.back = time.monotonic()
        deadline = window.back + normal_timeout_s
        while time.monotonic() < deadline and window.normal is None:
            time.sleep(0.5)
            after = [c for c in cycles if c[0] >= window.back]
            for i in range(len(after) - 2):
                if all(good for _, good in after[i:i + 3]):
                    window.normal = after[i][0]
                    break
        stop.set()
        prober.join(timeout=120)
        return window

    def resend_refused(self) -> None:
        """The hospital sends again what was refused (as a PACS gateway retries): each must now be stored."""
        refused, self.refused = self.refused, []
        for paths in refused:
            res = self.send(paths)
            assert res.status_code == 200, res.text[:300]

    def lost(self) -> tuple[int, list[str]]:
        return lost_instances(url=self.url, ledger=self.ledger, keys=[h.key for h in self.people.hospitals])
