"""Demo records (part of ``yunying demo seed``): 10+ years of 张伟's health records from four hospitals.

Everything goes through the same service functions hospitals reach over HTTP — MPI registrations,
STOW-RS ingest (``StowBatch``), report / lab / checkup PUTs — so the demo exercises the real paths and
is idempotent the same way (same content again: nothing new). Imaging: the synthetic chest CT (2024,
and a shorter one in 2019 as its prior), a synthetic chest CR, and fixture MR and ultrasound studies
from ``tests/data/dicom`` when the source tree is present.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pydicom
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from backend.access.principals import InstitutionPrincipal
from backend.checkups import service as checkups
from backend.checkups.schemas import CheckupIn
from backend.clock import CST
from backend.config import Settings
from backend.db import session_scope
from backend.dicom.multipart import Part
from backend.ingest.service import StowBatch
from backend.institutions.models import Institution
from backend.institutions.service import create_institution
from backend.labs import service as labs
from backend.labs.schemas import LabReportIn
from backend.people import service as people
from backend.reports import service as reports
from backend.reports.schemas import ReportIn
from backend.studies.models import Study
from tools import synthetic

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "dicom"
ZHANG_WEI, WANG_FANG = "320106196203150013", "320102198503120020"
NJ1, JSPH, GULOU, ZDYY = "南京市第一医院", "江苏省人民医院", "南京鼓楼医院", "东南大学附属中大医院"
MARK = "苏HR"  # Jiangsu's mutual-recognition mark (检查检验结果互认)


@dataclass(frozen=True, slots=True)
class DemoStudy:
    hospital: str
    local_id: str
    files: list[Path]
    report: dict[str, Any]



def _hospital(institution_id: str) -> InstitutionPrincipal:
    """The demo's records arrive as if the hospital's own system sent them (audited as such)."""
    return InstitutionPrincipal(institution_id=institution_id, key_id="demo")

def _institutions(session: Session) -> dict[str, str]:
    ids = {}
    for name in (NJ1, JSPH, GULOU, ZDYY):
        row = session.exec(select(Institution).where(Institution.name == name)).first()
        ids[name] = row.id if row else create_institution(session=session, name=name).institution_id
    return ids


def _register(session: Session, settings: Settings, inst: str, local_id: str, rid: str, name: str) -> None:
    people.register_patient(session=session, settings=settings, institution_id=inst, local_patient_id=local_id,
                            resident_id=rid, name=name, key_id="demo")


def _ingest(*, settings: Settings, engine: Engine, institution_id: str, files: list[Path]) -> None:
    """STOW-RS without HTTP: the same StowBatch the /dicomweb route drives (idempotent by SOP UID)."""
    batch = StowBatch(settings=settings, engine=engine, blobs=settings.storage.originals,
                      principal=InstitutionPrincipal(institution_id=institution_id, key_id="demo"),
                      base_url=settings.public_url.rstrip("/") + "/dicomweb")
    with tempfile.TemporaryDirectory(prefix="yunying-demo-") as tmp:
        for n, source in enumerate(files):
            copy = Path(tmp) / f"{n}.dcm"
            shutil.copyfile(source, copy)  # accept() consumes its part's file
            data = copy.read_bytes()
            batch.accept(Part(index=n, headers={}, content_type="application/dicom", transfer_syntax=None,
                              path=copy, size=len(data), sha256=hashlib.sha256(data).hexdigest()))
        batch.flush()


def _study_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID"]).StudyInstanceUID)


def _has_study(engine: Engine, institution_id: str, uid: str) -> bool:
    with session_scope(engine, readonly=True) as s:
        return s.exec(select(Study.id).where(Study.institution_id == institution_id,
                                             Study.study_instance_uid == uid)).first() is not None


def _report(items: str, findings: str, impression: str, at: datetime, doctor: str, reviewer: str) -> dict[str, Any]:
    return {"status": "final", "exam_items": [items], "findings": findings, "impression": impression,
            "reporting_physician": doctor, "reviewing_physician": reviewer, "reported_at": at.isoformat(),
            "mutual_recognition_mark": MARK}


def _synthetic_studies(tmp: Path, ct_slices: int) -> list[DemoStudy]:
    zw_nj = synthetic.SyntheticPatient(patient_id="NJ0001234")
    zw_js = synthetic.SyntheticPatient(patient_id="JS0088231")
    zw_gl = synthetic.SyntheticPatient(patient_id="GL0562019")
    ct24 = synthetic.SyntheticStudy(study_datetime=datetime(2024, 5, 20, 9, 30, tzinfo=CST),
                                    accession_number="CT20240520001", institution_name=NJ1, description="胸部CT增强")
    ct19 = synthetic.SyntheticStudy(study_datetime=datetime(2019, 4, 11, 14, 5, tzinfo=CST),
                                    accession_number="JSCT2019041107", institution_name=JSPH, description="胸部CT平扫")
    cr16 = synthetic.SyntheticStudy(study_datetime=datetime(2016, 9, 8, 10, 20, tzinfo=CST),
                                    accession_number="GLDR20160908033", institution_name=GULOU,
                                    description="胸部正位片")
    return [
        DemoStudy(NJ1, "NJ0001234", synthetic.write_ct_series(out_dir=tmp / "ct24", seed=7, slices=ct_slices,
                                                              patient=zw_nj, study=ct24),
                  _report("胸部CT增强", "胸廓对称。双肺纹理清晰，右肺上叶尖段见一磨玻璃结节，大小约6mm×5mm，边界清楚，"
                          "较2019-04-11片大致相仿。纵隔内未见肿大淋巴结，增强扫描大血管强化均匀。心影不大，双侧胸腔未见积液。",
                          "1. 右肺上叶磨玻璃小结节，较前大致相仿，建议12个月后复查。\n2. 余胸部CT增强未见明显异常。",
                          datetime(2024, 5, 20, 15, 40, tzinfo=CST), "李明", "王强")),
        DemoStudy(JSPH, "JS0088231", synthetic.write_ct_series(out_dir=tmp / "ct19", seed=19,
                                                               slices=max(ct_slices // 3, 10), patient=zw_js,
                                                               study=ct19),
                  _report("胸部CT平扫", "双肺纹理略增多，右肺上叶尖段见一磨玻璃小结节，直径约5mm。余肺野未见实变。"
                          "气管支气管通畅，纵隔居中，心影不大。", "右肺上叶磨玻璃小结节，建议年度随访。",
                          datetime(2019, 4, 11, 17, 0, tzinfo=CST), "周涛", "孙立")),
        DemoStudy(GULOU, "GL0562019", [synthetic.write_chest_cr(out_dir=tmp / "cr16", seed=16, patient=zw_gl,
                                                                study=cr16)],
                  _report("胸部正位片", "胸廓对称，气管居中。双肺纹理清晰，未见实质性病变。"
                          "双侧肋膈角锐利，心影大小形态正常。",
                          "胸部正位片未见明显异常。", datetime(2016, 9, 8, 11, 30, tzinfo=CST), "吴昊", "郑洁")),
    ]


def _fixture_studies() -> list[DemoStudy]:
    """Real scanner images whose anatomy fits the exam each is named for (issue 19 item 2): an axial brain
    MR (one time point of a GE EPI series, 15 slices) and an adult echocardiogram cine. No phantoms or
    QC acquisitions (the shoulder MR fixture is what the doctor-desk test uploads as a hospital would).
    Each file's PatientID is its hospital's local ID (registered in
    seed_records), and each report is dated on the study's own day."""
    brain = sorted((FIXTURES / "dcm_qa_stc" / "GE_mr_0004").glob("*.dcm"))[:15]
    echo = FIXTURES / "pydicom" / "examples_ybr_color.dcm"
    out = []
    if len(brain) == 15:
        out.append(DemoStudy(GULOU, "DEV", brain, _report(
            "头颅MR平扫", "双侧大脑半球对称，灰白质分界清楚，脑室系统未见扩大，中线结构居中。"
            "双侧基底节区见数个点状长T2信号。",
            "双侧基底节区少许腔隙性缺血灶，建议定期复查。", datetime(2018, 9, 18, 16, 0, tzinfo=CST), "陈静", "刘洋")))
    if echo.is_file():
        out.append(DemoStudy(ZDYY, "204", [echo], _report(
            "超声心动图", "各房室腔大小正常，室间隔及左室后壁厚度正常，室壁运动协调。"
            "主动脉根部内径正常。各瓣膜形态及启闭未见明显异常。彩色多普勒：二尖瓣见少量反流。左室射血分数（LVEF）62%。",
            "心脏结构及收缩功能未见明显异常；二尖瓣少量反流。", datetime(2016, 5, 3, 10, 0, tzinfo=CST),
            "杨帆", "黄蕾")))
    return out


# Yearly values 2014-2025 (canonical units): glucose mmol/L, LDL-C mmol/L, ALT U/L, creatinine µmol/L.
GLUCOSE = [5.4, 5.6, 5.9, 6.1, 6.4, 6.8, 7.2, 6.9, 7.4, 7.8, 7.1, 6.8]
LDL = [3.0, 3.2, 3.3, 3.5, 3.7, 3.9, 4.1, 4.3, 3.6, 3.1, 2.8, 2.6]
ALT = [28, 31, 35, 42, 58, 68, 45, 38, 33, 30, 29, 27]
CREATININE = [72, 74, 75, 78, 80, 83, 86, 90, 95, 101, 108, 112]


def _chem_items(i: int, *, mg_dl: bool = False) -> list[dict[str, Any]]:
    glucose = {"code": "GLU", "loinc": "1558-6" if mg_dl else "14771-0", "name": "空腹血糖",
               "value": round(GLUCOSE[i] * 18.016) if mg_dl else GLUCOSE[i], "unit": "mg/dL" if mg_dl else "mmol/L",
               "reference_range": "70-110" if mg_dl else "3.9-6.1"}
    creatinine = {"code": "CREA", "name": "肌酐", "unit": "mg/dL" if mg_dl else "µmol/L",
                  "value": round(CREATININE[i] / 88.42, 2) if mg_dl else CREATININE[i],
                  "reference_range": "0.64-1.26" if mg_dl else "57-111"}
    return [
        glucose,
        {"code": "TC", "name": "总胆固醇", "value": round(LDL[i] + 1.9, 1), "unit": "mmol/L",
         "reference_range": "<5.2"},
        {"code": "TG", "name": "甘油三酯", "value": round(1.2 + (i % 4) * 0.3, 1), "unit": "mmol/L",
         "reference_range": "<1.7"},
        {"code": "LDL-C", "name": "低密度脂蛋白胆固醇", "value": LDL[i], "unit": "mmol/L", "reference_range": "<3.4"},
        {"code": "HDL-C", "name": "高密度脂蛋白胆固醇", "value": 1.1, "unit": "mmol/L", "reference_range": ">1.0"},
        {"code": "ALT", "name": "丙氨酸氨基转移酶", "value": ALT[i], "unit": "U/L", "reference_range": "9-50"},
        {"code": "AST", "name": "天门冬氨酸氨基转移酶", "value": round(ALT[i] * 0.8), "unit": "U/L",
         "reference_range": "15-40"},
        creatinine,
        {"code": "HBSAG", "name": "乙肝表面抗原", "value": "阴性", "reference_range": "阴性"},
    ]


def _checkup(i: int) -> dict[str, Any]:
    year = 2014 + i
    conclusions, advice = [], []
    if GLUCOSE[i] > 6.1:
        conclusions.append(f"空腹血糖升高（{GLUCOSE[i]} mmol/L）")
        advice.append("内分泌科就诊，控制饮食，监测血糖及糖化血红蛋白")
    if LDL[i] > 3.4:
        conclusions.append("血脂异常（低密度脂蛋白胆固醇升高）")
        advice.append("低脂饮食，心内科随诊评估是否需降脂治疗")
    if ALT[i] > 50:
        conclusions.append("肝功能异常（丙氨酸氨基转移酶升高）")
        advice.append("戒酒，避免肝损药物，1个月后复查肝功能")
    if CREATININE[i] > 111:
        conclusions.append("血肌酐轻度升高")
        advice.append("肾内科随诊，复查肾功能及尿常规")
    if year >= 2018:
        conclusions.append("血压偏高")
        advice.append("低盐饮食，规律监测血压")
    when = datetime(year, 4, 12 + i % 10, 8, 0, tzinfo=CST)
    return {
        "local_patient_id": "JS0088231", "package_name": "中老年男性体检套餐", "exam_date": when.isoformat(),
        "reported_at": (when + timedelta(days=5)).isoformat(), "chief_physician": "陈静",
        "sections": [
            {"name": "一般检查", "doctor": "刘洋", "items": [
                {"name": "身高", "result": "172", "unit": "cm"},
                {"name": "体重", "result": str(74 + i // 3), "unit": "kg"},
                {"name": "血压", "result": "146/92" if year >= 2018 else "128/82", "unit": "mmHg",
                 "reference": "<140/90", **({"flag": "H"} if year >= 2018 else {})}]},
            {"name": "内科", "doctor": "赵敏", "items": [{"name": "心肺听诊", "result": "未见异常"}],
             "summary": "未见明显异常"},
            {"name": "心电图", "items": [{"name": "心电图", "result": "窦性心律，正常心电图"}]},
        ],
        "conclusions": conclusions, "recommendations": advice or ["保持健康生活方式，每年体检"],
        "lab_panels": [{"report_id": f"TJ{year}-LAB", "local_patient_id": "JS0088231", "panel_name": "体检生化",
                        "specimen": "血清", "collected_at": when.isoformat(),
                        "reported_at": (when + timedelta(hours=6)).isoformat(), "reporting_physician": "钱芳",
                        "mutual_recognition_mark": MARK, "items": _chem_items(i)}],
    }


def _outpatient_labs() -> list[tuple[str, str, dict[str, Any]]]:
    """(hospital, report id, body): NJ1 reports in conventional units (mg/dL), Gulou a liver panel."""
    out = []
    for i in (6, 9, 11):  # 2020, 2023, 2025
        when = datetime(2014 + i, 10, 9, 7, 30, tzinfo=CST)
        out.append((NJ1, f"NJL{2014 + i}1009", {
            "local_patient_id": "NJ0001234", "panel_name": "肝肾功能+血糖血脂", "specimen": "血清",
            "collected_at": when.isoformat(), "reported_at": (when + timedelta(hours=4)).isoformat(),
            "department": "内分泌科", "reporting_physician": "孙悦", "mutual_recognition_mark": MARK,
            "items": _chem_items(i, mg_dl=True)}))
    when = datetime(2019, 8, 2, 8, 0, tzinfo=CST)
    out.append((GULOU, "GL20190802117", {
        "local_patient_id": "GL0562019", "panel_name": "肝功能", "specimen": "血清", "collected_at": when.isoformat(),
        "reported_at": (when + timedelta(hours=3)).isoformat(), "department": "消化内科", "reporting_physician": "吴昊",
        "items": [{"code": "ALT", "name": "谷丙转氨酶(ALT)", "value": 72, "unit": "U/L", "reference_range": "9-50"},
                  {"code": "AST", "name": "谷草转氨酶(AST)", "value": 51, "unit": "U/L", "reference_range": "15-40"},
                  {"code": "GGT", "name": "γ-谷氨酰转移酶", "value": 88, "unit": "U/L", "reference_range": "10-60",
                   "flag": "H"}]}))
    when = datetime(2022, 3, 15, 8, 0, tzinfo=CST)
    out.append((ZDYY, "ZD20220315009", {
        "local_patient_id": "204", "panel_name": "糖化血红蛋白", "specimen": "全血", "collected_at": when.isoformat(),
        "reported_at": (when + timedelta(hours=2)).isoformat(), "reporting_physician": "杨帆",
        "items": [{"code": "HBA1C", "loinc": "4548-4", "name": "糖化血红蛋白", "value": 7.1, "unit": "%",
                   "reference_range": "4.0-6.0"}]}))
    return out


def seed_records(*, settings: Settings, engine: Engine, ct_slices: int = 300) -> str:
    with session_scope(engine) as s:
        inst = _institutions(s)
        for hospital, local_id in [(NJ1, "NJ0001234"), (JSPH, "JS0088231"), (GULOU, "GL0562019"), (GULOU, "DEV"),
                                   (ZDYY, "204")]:
            _register(s, settings, inst[hospital], local_id, ZHANG_WEI, "张伟")
        _register(s, settings, inst[NJ1], "NJ0007788", WANG_FANG, "王芳")
    with tempfile.TemporaryDirectory(prefix="yunying-demo-synth-") as tmp:
        studies = _synthetic_studies(Path(tmp), ct_slices) + _fixture_studies()
        wf = synthetic.SyntheticPatient(name_zh="王芳", name_alphabetic="Wang^Fang", patient_id="NJ0007788", sex="F",
                                        birth_date=date(1985, 3, 12), resident_id=WANG_FANG)
        wf_study = synthetic.SyntheticStudy(study_datetime=datetime(2023, 11, 2, 9, 0, tzinfo=CST),
                                            accession_number="DR20231102015", institution_name=NJ1,
                                            description="胸部正位片")
        studies.append(DemoStudy(NJ1, "NJ0007788", [synthetic.write_chest_cr(
            out_dir=Path(tmp) / "wf", seed=85, patient=wf, study=wf_study, rows=1024, columns=1024)], _report(
            "胸部正位片", "双肺纹理清晰，未见实质性病变。心影大小形态正常。", "胸部正位片未见明显异常。",
            datetime(2023, 11, 2, 11, 0, tzinfo=CST), "李明", "王强")))
        for study in studies:
            uid = _study_uid(study.files[0])
            if not _has_study(engine, inst[study.hospital], uid):
                _ingest(settings=settings, engine=engine, institution_id=inst[study.hospital], files=study.files)
            with session_scope(engine) as s:
                reports.put_report(session=s, principal=_hospital(inst[study.hospital]), study_instance_uid=uid,
                                   body=ReportIn.model_validate({**study.report, "local_patient_id": study.local_id}))
    with session_scope(engine) as s:
        for i in range(len(GLUCOSE)):
            checkups.put_checkup(session=s, principal=_hospital(inst[JSPH]), checkup_id=f"TJ{2014 + i}0412",
                                 body=CheckupIn.model_validate(_checkup(i)))
        for hospital, report_id, body in _outpatient_labs():
            labs.put_lab_report(session=s, principal=_hospital(inst[hospital]), report_id=report_id,
                                body=LabReportIn.model_validate(body))
    return f"records demo: {len(studies)} studies with reports, {len(GLUCOSE)} checkups, lab panels for 张伟 and 王芳"
