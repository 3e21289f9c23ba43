"""Deterministic synthetic studies written as real DICOM files (demo data and benchmarks).

API (no ``__main__``)::

    paths = write_ct_series(out_dir=d, seed=7)                 # 300 x 512x512 chest CT, ~3 s
    cr = write_chest_cr(out_dir=d, seed=7)                     # 2000x2000 MONOCHROME1 chest CR
    hu = ct_slice_hu(index=150, slices=300, size=512, seed=7)  # the phantom, pure numpy (HU)

Same seed, same arguments -> byte-identical files (UIDs are ``2.25.<128-bit int>`` derived from the
seed per ITU-T X.667 / PS3.5 §B.2; no clock, no random state outside the seed).

The CT phantom is an axial chest from the lung apex to the upper abdomen in Hounsfield units: air
-1000, lung -850 with contrast-filled vessels, subcutaneous and mediastinal fat -100, muscle and soft
tissue ~40, contrast-enhanced aorta, pulmonary trunk and heart chambers ~250-300, liver ~100,
vertebrae (cortex ~1100, cancellous ~280, discs), ribs, sternum. Stored as int16 with
RescaleIntercept -1024 (stored = HU + 1024), 0.7 mm pixels (FOV 358 mm, scaled when ``size`` is
smaller), 1 mm slices stepping down in z, WindowCenter/Width 40/400, patient orientation
[1,0,0,0,1,0] (PS3.3 C.7.6.2.1.1: rows run to the patient's left, columns to posterior).

Compression: ``transfer_syntax`` may be Explicit VR Little Endian (default), RLE Lossless (pydicom's
own encoder) or JPEG 2000 Lossless (pylibjpeg-openjpeg). pydicom 3 has no encoder for JPEG Lossless
Process 14 (1.2.840.10008.1.2.4.70) or JPEG-LS without ``pyjpegls``: asking for them raises
:class:`UnsupportedEncoding`. A compressed copy gets its own series and instance UIDs (the archive
rightly refuses one UID with two different byte streams).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from backend.dicom.metadata import CHINA

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
_FOV_MM = 358.4
_COVERAGE_MM = 300.0
_ENCODABLE = {ExplicitVRLittleEndian, RLELossless, JPEG2000Lossless}


class UnsupportedEncoding(ValueError):
    """The requested transfer syntax cannot be written with the installed encoders."""


@dataclass(frozen=True, slots=True)
class SyntheticPatient:
    name_zh: str = "张伟"
    name_alphabetic: str = "Zhang^Wei"
    patient_id: str = "NJ0001234"
    sex: str = "M"
    birth_date: date = date(1962, 3, 15)
    resident_id: str | None = "320106196203150013"  # sent as OtherPatientIDs, issuer CN-RID


@dataclass(frozen=True, slots=True)
class SyntheticStudy:
    study_datetime: datetime = field(default_factory=lambda: datetime(2024, 5, 20, 9, 30, tzinfo=CHINA))
    accession_number: str = "CT20240520001"
    institution_name: str = "南京市第一医院"
    description: str = "胸部CT增强"
    referring_physician: str = "Li^Ming=李^明"


def synthetic_uid(seed: int, *parts: object) -> str:
    """``2.25.<int>`` from a SHA-256 of the seed and ``parts`` (128 bits, PS3.5 §B.2)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


# ---------------------------------------------------------------------------------- CT phantom
def _draw_ellipse(img: np.ndarray, mm: float, cx: float, cy: float, a: float, b: float, value: float) -> None:
    """Fill an ellipse given in mm (origin at the image centre) inside its bounding box only."""
    n = img.shape[0]
    c0, c1 = int(max(0, (cx - a) / mm + n / 2 - 1)), int(min(n, (cx + a) / mm + n / 2 + 2))
    r0, r1 = int(max(0, (cy - b) / mm + n / 2 - 1)), int(min(n, (cy + b) / mm + n / 2 + 2))
    if c0 >= c1 or r0 >= r1 or a <= 0 or b <= 0:
        return
    xs = (np.arange(c0, c1, dtype=np.float32) - n / 2 + 0.5) * mm
    ys = (np.arange(r0, r1, dtype=np.float32) - n / 2 + 0.5) * mm
    inside = ((xs[None, :] - cx) / a) ** 2 + ((ys[:, None] - cy) / b) ** 2 <= 1.0
    img[r0:r1, c0:c1][inside] = value


def _bone(img: np.ndarray, mm: float, cx: float, cy: float, a: float, b: float, cortex: float, core: float) -> None:
    _draw_ellipse(img, mm, cx, cy, a, b, cortex)
    _draw_ellipse(img, mm, cx, cy, a - 2.0, b - 2.0, core)


@dataclass(frozen=True, slots=True)
class _Vessel:
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    radius: float


def _lung_vessels(seed: int) -> list[_Vessel]:
    rng = np.random.default_rng([seed, 1])
    vessels = []
    for side in (-1.0, 1.0):
        for _ in range(45):
            hilum = (side * 35.0, -5.0, 150.0 + rng.uniform(-25, 25))
            angle = rng.uniform(0, 2 * np.pi)
            reach = rng.uniform(25, 70)
            end = (
                side * 75.0 + np.cos(angle) * reach * 0.7,
                -5.0 + np.sin(angle) * reach,
                hilum[2] + rng.uniform(-110, 110),
            )
            vessels.append(_Vessel(start=hilum, end=end, radius=float(rng.uniform(1.5, 4.0))))
    return vessels


def ct_slice_hu(*, index: int, slices: int, size: int, seed: int) -> np.ndarray:
    """One axial slice of the chest phantom in HU (float32, ``size`` x ``size``). Pure."""
    mm = _FOV_MM / size
    depth = index * (_COVERAGE_MM / slices)  # mm below the lung apex
    t = depth / _COVERAGE_MM
    img = np.full((size, size), -1000.0, dtype=np.float32)
    ba, bb = 150.0 + 15.0 * t, 105.0 + 10.0 * t
    _draw_ellipse(img, mm, 0, 0, ba, bb, -100.0)  # subcutaneous fat
    _draw_ellipse(img, mm, 0, 0, ba - 10, bb - 10, 45.0)  # chest wall muscle
    _draw_ellipse(img, mm, 0, 2, ba - 22, bb - 20, 30.0)  # inner soft tissue
    grow = np.sin(np.pi / 2 * min(1.0, t / 0.6))
    shrink = 1.0 if t < 0.7 else max(0.0, 1.0 - (t - 0.7) / 0.22)
    la, lb = (22 + 36 * grow) * shrink, (30 + 52 * grow) * shrink
    lungs = np.zeros_like(img, dtype=bool)
    if la > 2:
        for side in (-1.0, 1.0):
            _draw_ellipse(img, mm, side * 70, -2, la, lb, -850.0)
        lungs = img == -850.0
    if t > 0.62:  # liver dome under the right hemidiaphragm, portal-venous enhancement
        _draw_ellipse(img, mm, -45, 5, 40 + 60 * min(1.0, (t - 0.62) / 0.2), 70, 100.0)
    _draw_ellipse(img, mm, 0, -10, 38, 55 if 0.15 < t < 0.85 else 0, -90.0)  # mediastinal fat
    if 0.4 < t < 0.88:  # heart: myocardium and contrast-filled chambers
        h = float(np.sin(np.pi * (t - 0.4) / 0.48))
        _draw_ellipse(img, mm, 18, -25, 58 * h, 46 * h, 90.0)
        _draw_ellipse(img, mm, 22, -27, 40 * h, 30 * h, 260.0)
        _draw_ellipse(img, mm, 12, -20, 3 * h, 30 * h, 90.0)  # septum
    if 0.12 < t < 0.22:  # aortic arch, right-anterior to left-posterior
        f = (t - 0.12) / 0.10
        _draw_ellipse(img, mm, -15 + 37 * f, -30 + 80 * f, 20, 14, 250.0)
    if 0.2 < t < 0.45:
        _draw_ellipse(img, mm, -15, -30, 14, 14, 250.0)  # ascending aorta
    if 0.3 < t < 0.45:
        _draw_ellipse(img, mm, 10, -38, 13, 13, 270.0)  # pulmonary trunk
    if 0.1 < t < 0.4:
        _draw_ellipse(img, mm, -32, -25, 9, 9, 320.0)  # superior vena cava (dense contrast inflow)
    if t > 0.18:
        _draw_ellipse(img, mm, 22, 50, 12, 12, 245.0)  # descending aorta
    if t < 0.32:  # trachea with its wall
        _draw_ellipse(img, mm, 0, 8, 11, 10, 40.0)
        _draw_ellipse(img, mm, 0, 8, 9, 8, -1000.0)
    elif t < 0.42:  # main bronchi
        spread = 8 + 120 * (t - 0.32)
        for side in (-1.0, 1.0):
            _draw_ellipse(img, mm, side * spread, 5, 7, 6, 40.0)
            _draw_ellipse(img, mm, side * spread, 5, 5, 4, -1000.0)
    _draw_ellipse(img, mm, 6, 38, 6, 6, 40.0)  # oesophagus
    _draw_ellipse(img, mm, 6, 38, 2, 2, -1000.0)
    in_disc = (depth % 28.0) < 5.0  # vertebral bodies and discs
    _bone(img, mm, 0, 72, 17, 15, 90.0 if in_disc else 1100.0, 90.0 if in_disc else 280.0)
    _draw_ellipse(img, mm, 0, 96, 8, 8, 15.0)  # spinal canal (CSF)
    _bone(img, mm, 0, 116, 6, 13, 900.0, 400.0)  # spinous process
    for side in (-1.0, 1.0):
        _bone(img, mm, side * 20, 102, 7, 5, 900.0, 350.0)  # lamina / transverse process
    if 0.15 < t < 0.75:
        _bone(img, mm, 0, -bb + 14, 14, 6, 700.0, 250.0)  # sternum
    for j in range(11):  # ribs: oblique, so each angle shows a cross-section every ~26 mm
        theta = np.pi * (0.08 + 0.84 * j / 10)
        if ((depth + 4.0 * j) % 26.0) < 9.0:
            for side in (-1.0, 1.0):
                cx = side * (ba - 16) * np.sin(theta)
                cy = (bb - 14) * np.cos(theta)
                _bone(img, mm, float(cx), float(cy), 6, 4.5, 1200.0, 350.0)
    if lungs.any():
        vessel_layer = img.copy()
        for v in _lung_vessels(seed):
            z0, z1 = sorted((v.start[2], v.end[2]))
            if not z0 <= depth <= z1 or z1 == z0:
                continue
            f = (depth - v.start[2]) / (v.end[2] - v.start[2])
            radius = v.radius * (1.0 - 0.6 * f)
            cx = v.start[0] + f * (v.end[0] - v.start[0])
            cy = v.start[1] + f * (v.end[1] - v.start[1])
            _draw_ellipse(vessel_layer, mm, cx, cy, radius, radius, 200.0)
        img = np.where(lungs, vessel_layer, img)
    # Partial-volume softening (3x3 box) and quantum noise, seeded per slice.
    padded = np.pad(img, 1, mode="edge")
    soft = np.zeros_like(img)
    for dy in range(3):
        for dx in range(3):
            soft += padded[dy : dy + size, dx : dx + size]
    img = soft / np.float32(9.0)
    rng = np.random.default_rng([seed, 2, index])
    img += rng.normal(0.0, 10.0, img.shape).astype(np.float32)
    return img.astype(np.float32)


def _check_encoding(transfer_syntax: str) -> UID:
    ts = UID(transfer_syntax)
    if ts not in _ENCODABLE or (ts != ExplicitVRLittleEndian and not get_encoder(ts).is_available):
        raise UnsupportedEncoding(
            f"cannot write {ts.name}: pydicom 3 has no encoder for it here; use RLE Lossless "
            f"({RLELossless}) or JPEG 2000 Lossless ({JPEG2000Lossless})"
        )
    return ts


def _base_dataset(
    *, seed: int, patient: SyntheticPatient, study: SyntheticStudy, sop_class: str, modality: str
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.PatientName = f"{patient.name_alphabetic}={patient.name_zh[0]}^{patient.name_zh[1:]}"
    ds.PatientID = patient.patient_id
    ds.PatientSex = patient.sex
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    if patient.resident_id:
        other = Dataset()
        other.PatientID = patient.resident_id
        other.IssuerOfPatientID = "CN-RID"
        other.TypeOfPatientID = "TEXT"
        ds.OtherPatientIDsSequence = Sequence([other])
    local = study.study_datetime.astimezone(CHINA)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = local.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = local.strftime("%H%M%S")
    ds.AcquisitionDateTime = local.strftime("%Y%m%d%H%M%S")
    ds.TimezoneOffsetFromUTC = "+0800"
    ds.AccessionNumber = study.accession_number
    ds.InstitutionName = study.institution_name
    ds.StudyDescription = study.description
    ds.ReferringPhysicianName = study.referring_physician
    ds.StudyID = "1"
    ds.BodyPartExamined = "CHEST"
    ds.Manufacturer = "Yunying Synthetic"
    ds.StudyInstanceUID = synthetic_uid(seed, "study", modality, study.accession_number)
    ds.SamplesPerPixel = 1
    ds.BitsAllocated = 16
    return ds


def _write(ds: Dataset, path: Path, ts: UID) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID("2.25.190736239162155373618355389163830521751")
    meta.ImplementationVersionName = "YUNYING_SYN_1"
    ds.file_meta = meta
    if ts != ExplicitVRLittleEndian:
        ds.compress(ts, encoding_plugin="pydicom" if ts == RLELossless else "pylibjpeg", generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_ct_series(
    *,
    out_dir: Path,
    seed: int,
    slices: int = 300,
    size: int = 512,
    patient: SyntheticPatient | None = None,
    study: SyntheticStudy | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    series_number: int = 2,
) -> list[Path]:
    """Write the chest CT phantom as ``slices`` files ``ct-0001.dcm`` ...; returns their paths."""
    ts = _check_encoding(transfer_syntax)
    patient, study = patient or SyntheticPatient(), study or SyntheticStudy()
    out_dir.mkdir(parents=True, exist_ok=True)
    mm, dz = _FOV_MM / size, _COVERAGE_MM / slices
    ds = _base_dataset(seed=seed, patient=patient, study=study, sop_class=CT_IMAGE_STORAGE, modality="CT")
    series_key = (series_number, str(ts))
    ds.SeriesInstanceUID = synthetic_uid(seed, "ct-series", *series_key)
    ds.FrameOfReferenceUID = synthetic_uid(seed, "ct-frame")
    ds.SeriesNumber = series_number
    ds.SeriesDescription = "胸部增强 1.0mm" + ("" if ts == ExplicitVRLittleEndian else f" ({ts.name})")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [round(mm, 6), round(mm, 6)]
    ds.SliceThickness = round(dz, 4)
    ds.SpacingBetweenSlices = round(dz, 4)
    ds.KVP = 120
    ds.ContrastBolusAgent = "Iohexol 350"
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    origin = -_FOV_MM / 2 + mm / 2
    paths = []
    for index in range(slices):
        hu = ct_slice_hu(index=index, slices=slices, size=size, seed=seed)
        stored = np.clip(np.rint(hu) + 1024, -32768, 32767).astype("<i2")
        z = round(-index * dz, 4)
        ds.SOPInstanceUID = synthetic_uid(seed, "ct-instance", *series_key, index)
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [round(origin, 4), round(origin, 4), z]
        ds.SliceLocation = z
        ds.PixelData = stored.tobytes()
        if "PixelData" in ds:
            ds["PixelData"].VR = "OW"
        paths.append(_write(ds, out_dir / f"ct-{index + 1:04d}.dcm", ts))
        if ts != ExplicitVRLittleEndian:  # compress() swapped PixelData/meta; reset for the next slice
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return paths


def chest_cr_pixels(*, rows: int, columns: int, seed: int) -> np.ndarray:
    """A PA chest radiograph as 12-bit MONOCHROME1 values (high = dark). Pure."""
    lr, lc = max(rows // 4, 8), max(columns // 4, 8)  # model at 1/4 resolution, then upsample
    y, x = np.mgrid[0:lr, 0:lc].astype(np.float32)
    y, x = (y - lr / 2) / (lr / 2), (x - lc / 2) / (lc / 2)
    body = (x / 0.82) ** 2 + ((y - 0.05) / 0.95) ** 2 < 1
    att = body.astype(np.float32)
    for side in (-1.0, 1.0):  # lungs: less attenuation
        att -= 0.55 * (((x - side * 0.38) / 0.3) ** 2 + ((y + 0.05) / 0.55) ** 2 < 1)
        for k in range(10):  # posterior ribs as arcs
            r = ((x - side * 0.05) / 0.75) ** 2 + ((y + 0.75 - 0.14 * k) / 0.45) ** 2
            att += 0.25 * ((np.abs(r - 1.0) < 0.06) & (side * x > 0.05) & (np.abs(x) < 0.7) & body)
        att += 0.3 * ((np.abs(y + 0.62 + 0.1 * side * x) < 0.025) & (np.abs(x) < 0.5) & (side * x > 0))
    att += 0.5 * (((x - 0.08) / 0.26) ** 2 + ((y - 0.2) / 0.3) ** 2 < 1)  # heart / mediastinum
    att += 0.6 * ((np.abs(x) < 0.06) & body)  # spine
    att += 0.45 * ((y > 0.45) & body)  # diaphragm / abdomen
    full = att[(np.arange(rows) * lr // rows)[:, None], (np.arange(columns) * lc // columns)[None, :]]
    rng = np.random.default_rng([seed, 3])
    signal = 4095.0 * np.exp(-1.6 * np.clip(full, 0, None)) + rng.normal(0, 25, full.shape)
    return np.clip(signal, 0, 4095).astype(np.uint16)


def write_chest_cr(
    *,
    out_dir: Path,
    seed: int,
    rows: int = 2000,
    columns: int = 2000,
    patient: SyntheticPatient | None = None,
    study: SyntheticStudy | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Path:
    """Write one PA chest CR (MONOCHROME1, 12 of 16 bits, 0.2 mm pixels) as ``cr-0001.dcm``."""
    ts = _check_encoding(transfer_syntax)
    patient = patient or SyntheticPatient()
    study = study or SyntheticStudy(accession_number="CR20240520001", description="胸部正位片")
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = _base_dataset(seed=seed, patient=patient, study=study, sop_class=CR_IMAGE_STORAGE, modality="CR")
    ds.SeriesInstanceUID = synthetic_uid(seed, "cr-series", str(ts))
    ds.SOPInstanceUID = synthetic_uid(seed, "cr-instance", str(ts))
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.SeriesDescription = "胸部 PA"
    ds.ViewPosition = "PA"
    ds.PatientOrientation = ["L", "F"]
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 0
    ds.PixelSpacing = ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = chest_cr_pixels(rows=rows, columns=columns, seed=seed).astype("<u2").tobytes()
    ds["PixelData"].VR = "OW"
    return _write(ds, out_dir / "cr-0001.dcm", ts)
