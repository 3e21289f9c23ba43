"""The people a load run acts as, built over the public API as hospitals and people would build them.

For each of ``patients`` people: their home hospital registers them (``PUT /api/v1/institution/
patients/{id}``) and uploads a CT through STOW-RS, then its report and a lab panel; the person logs in
through the WeChat simulator and binds by real-name face verification (simulated); they invite a
relative, who accepts; they share their studies with a doctor behind an access code. Hospitals are made
with the CLI (``yunying institution create --json``), which needs the service's own settings in the
environment — run this where the CLI of the deployment works.

The result is one JSON file (``Population``) that the Locust users read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from pydicom import dcmread
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from backend.auth.binding import CONSENT_VERSION
from backend.clock import CST
from backend.dicom.mime import encode_multipart, new_boundary, related_content_type
from backend.people.resident_id import generate_resident_id
from tools.load.browser import csrf, hospital, login
from tools.synthetic import SyntheticPatient, SyntheticStudy, write_ct_series

HOSPITALS = ("省人民医院", "市第一医院", "鼓楼医院", "儿童医院")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明")


@dataclass
class Hospital:
    name: str
    key: str


@dataclass
class Patient:
    openid: str
    person_id: str
    local_id: str
    hospital: int  # index into Population.hospitals
    relative_openid: str
    share_url: str
    share_code: str
    study_uids: list[str] = field(default_factory=list)


@dataclass
class Population:
    base_url: str
    run: str
    hospitals: list[Hospital]
    patients: list[Patient]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Population:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(base_url=raw["base_url"], run=raw["run"], hospitals=[Hospital(**h) for h in raw["hospitals"]],
                   patients=[Patient(**p) for p in raw["patients"]])


def seed_of(*parts: object) -> int:
    """A stable 31-bit seed (tools.synthetic derives every UID from it) for one upload."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big") >> 1


def create_hospital(*, yunying: Path, name: str) -> Hospital:
    out = subprocess.run([str(yunying), "institution", "create", name, "--json"], check=True,  # noqa: S603
                         capture_output=True, text=True)
    return Hospital(name=name, key=json.loads(out.stdout)["api_key"])


def study_files(*, out_dir: Path, seed: int, local_id: str, name: str, resident_id: str | None, sex: str, birth: date,
                hospital_name: str, when: datetime, slices: int, size: int) -> list[Path]:
    patient = SyntheticPatient(name_zh=name, name_alphabetic="Load^Patient", patient_id=local_id, sex=sex,
                               birth_date=birth, resident_id=resident_id)
    study = SyntheticStudy(study_datetime=when, accession_number=f"LD{seed:010d}", institution_name=hospital_name,
                           description="胸部CT平扫")
    return write_ct_series(out_dir=out_dir, seed=seed, slices=slices, size=size, patient=patient, study=study)


def stow_request(*, key: str, paths: list[Path]) -> tuple[bytes, dict[str, str]]:
    """A STOW-RS body and its headers (PS3.18 10.5): one multipart/related part per file."""
    boundary = new_boundary()
    body = b"".join(encode_multipart(paths, boundary=boundary))
    return body, {**hospital(key), "Content-Type": related_content_type(boundary), "Accept": "application/dicom+json"}


def stow(http: requests.Session, *, base_url: str, key: str, paths: list[Path],
         timeout: float = 120) -> requests.Response:
    body, headers = stow_request(key=key, paths=paths)
    return http.post(f"{base_url}/dicomweb/studies", data=body, timeout=timeout, headers=headers)


def report_body(*, study_uid: str, local_id: str, when: datetime) -> dict[str, Any]:
    return {"study_instance_uid": study_uid, "local_patient_id": local_id, "status": "final",
            "exam_items": ["胸部CT平扫"], "findings": "双肺纹理清晰，右肺上叶见一枚直径约4mm磨玻璃结节。",
            "impression": "右肺上叶磨玻璃小结节，建议12个月后复查。", "reporting_physician": "李明",
            "reported_at": (when + timedelta(hours=3)).isoformat()}


def lab_body(*, local_id: str, when: datetime, glucose: float) -> dict[str, Any]:
    return {"local_patient_id": local_id, "panel_name": "空腹血糖", "specimen": "血清",
            "reported_at": when.isoformat(),
            "items": [{"name": "葡萄糖", "loinc": "1558-6", "value": glucose, "unit": "mmol/L",
                       "reference_range": "3.9-6.1"}]}


def _session() -> requests.Session:
    """The population is the run's setup, not its measurement: a dropped connection, a timeout or a
    502/503/504 (honouring Retry-After) is tried again, as a hospital's gateway and a person would, so a
    run on a loaded machine does not end before it starts. Every other refusal still raises."""
    retry = Retry(total=4, backoff_factor=1, status_forcelist=(502, 503, 504), allowed_methods=None,
                  raise_on_status=False)
    http = requests.Session()
    http.mount("http://", HTTPAdapter(max_retries=retry))
    http.mount("https://", HTTPAdapter(max_retries=retry))
    return http


def _person(*, base_url: str, yunying_run: str, index: int, hospitals: list[Hospital], work: Path,
            slices: int, size: int) -> Patient:
    http = _session()
    home = index % len(hospitals)
    sex = "M" if index % 2 else "F"
    unique = seed_of(yunying_run, "person", index)  # resident IDs differ between runs on one database
    birth = date(1940, 1, 1) + timedelta(days=unique % 22000)
    resident_id = generate_resident_id(region_code="320106", birth_date=birth, sex=sex, sequence=unique % 500)
    name = SURNAMES[index % len(SURNAMES)] + GIVEN[(index // len(SURNAMES)) % len(GIVEN)]
    phone = f"139{unique % 10**8:08d}"
    local_id = f"LD{yunying_run}-{index:05d}"
    key = hospitals[home].key
    res = http.put(f"{base_url}/api/v1/institution/patients/{local_id}", headers=hospital(key), timeout=30,
                   json={"resident_id": resident_id, "name": name, "sex": sex, "birth_date": birth.isoformat(),
                         "phone": phone})
    res.raise_for_status()
    when = datetime(2025, 1 + index % 12, 1 + index % 28, 9, 0, tzinfo=CST)
    seed = seed_of(yunying_run, "population", index)
    paths = study_files(out_dir=work / f"p{index}", seed=seed, local_id=local_id, name=name, resident_id=resident_id,
                        sex=sex, birth=birth, hospital_name=hospitals[home].name, when=when, slices=slices, size=size)
    stow(http, base_url=base_url, key=key, paths=paths).raise_for_status()
    study_uid = str(dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID)
    http.put(f"{base_url}/api/v1/institution/reports/by-study-uid/{study_uid}", headers=hospital(key), timeout=30,
             json=report_body(study_uid=study_uid, local_id=local_id, when=when)).raise_for_status()
    http.put(f"{base_url}/api/v1/institution/lab-reports/{local_id}-glu", headers=hospital(key), timeout=30,
             json=lab_body(local_id=local_id, when=when, glucose=5.2)).raise_for_status()
    openid = f"load-{yunying_run}-p{index}"
    login(http, base_url=base_url, openid=openid)
    # WeChat real-name face verification (人脸核身) binds without an SMS: the SMS path allows 30 codes per
    # client address and hour (auth/codes.py), and a population is built from one address.
    who = {"name": name, "resident_id": resident_id}
    http.post(f"{base_url}/_sim/wechat/control", timeout=30,
              json={"openid": openid, "realname_name": name, "realname_id_number": resident_id}).raise_for_status()
    face = http.post(f"{base_url}/_sim/wechat/face/verify", timeout=30,
                     json={"openid": openid, "name": name, "id_card_number": resident_id}).json()
    bound = http.post(f"{base_url}/api/v1/me/binding/realname", headers=csrf(http), timeout=30,
                      json={**who, "verify_result": face["verify_result"], "consent_version": CONSENT_VERSION})
    bound.raise_for_status()
    person_id = bound.json()["person_id"]
    invite = http.post(f"{base_url}/api/v1/people/{person_id}/invitations", headers=csrf(http), timeout=30,
                       json={"relationship": "child", "scope": "all"})
    invite.raise_for_status()
    relative = _session()
    relative_openid = f"load-{yunying_run}-r{index}"
    login(relative, base_url=base_url, openid=relative_openid)
    relative.post(f"{base_url}/api/v1/invitations/{invite.json()['token']}/accept", headers=csrf(relative),
                  timeout=30).raise_for_status()
    share = http.post(f"{base_url}/api/v1/people/{person_id}/shares", headers=csrf(http), timeout=30,
                      json={"all": True, "expires_in": "7d", "with_access_code": True, "allow_download": True,
                            "note": "负载测试 王医生"})
    share.raise_for_status()
    return Patient(openid=openid, person_id=person_id, local_id=local_id, hospital=home,
                   relative_openid=relative_openid, share_url=share.json()["url"],
                   share_code=share.json()["access_code"], study_uids=[study_uid])


def build(*, base_url: str, yunying: Path, run: str, patients: int, slices: int, size: int,
          threads: int = 4) -> Population:
    hospitals = [create_hospital(yunying=yunying, name=f"{name}（负载{run}）") for name in HOSPITALS]
    with tempfile.TemporaryDirectory(prefix="yy-population-") as tmp, ThreadPoolExecutor(threads) as pool:
        made: Iterator[Patient] = pool.map(
            lambda i: _person(base_url=base_url, yunying_run=run, index=i, hospitals=hospitals, work=Path(tmp),
                              slices=slices, size=size), range(patients))
        people = list(made)
    return Population(base_url=base_url, run=run, hospitals=hospitals, patients=people)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run", default=datetime.now(CST).strftime("%m%d%H%M"))
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--yunying", type=Path, default=Path(sys.executable).with_name("yunying"))
    args = parser.parse_args(argv)
    population = build(base_url=args.url.rstrip("/"), yunying=args.yunying, run=args.run, patients=args.patients,
                       slices=args.slices, size=args.size)
    population.save(args.out)
    print(f"{len(population.patients)} people, {len(population.hospitals)} hospitals → {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
