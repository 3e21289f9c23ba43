"""Compressed copies of the synthetic CT that pydicom cannot encode itself, made with imagecodecs
(bench_previews): JPEG lossless (Process 14) and JPEG baseline (Process 1). Each copy gets its own
series and instance UIDs and says its transfer syntax in the series description."""

from __future__ import annotations

from pathlib import Path


def jpeg_lossless_copy(paths: list[Path], out: Path) -> list[Path]:
    """A JPEG lossless (Process 14) copy of the series, encoded with imagecodecs (pydicom has no
    encoder for it). imagecodecs' encoder uses predictor 6, so the transfer syntax is .57 (any
    predictor), not .70 (predictor 1 only). Its encoder takes unsigned samples: the phantom's stored
    values (HU + 1024, a little noise below 0) are shifted by 1024 and the intercept by -1024 (same HU)."""
    try:
        import imagecodecs  # type: ignore[import-not-found,unused-ignore]
        import pydicom
        from pydicom.encaps import encapsulate
    except ImportError:
        return []
    if not getattr(imagecodecs, "LJPEG", None) or not imagecodecs.LJPEG.available:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array.astype("<i4") + 1024  # shifted into unsigned range, intercept follows: same HU
        if pixels.min() < 0 or pixels.max() > 65535:
            return []
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = float(ds.RescaleIntercept) - 1024
        ds.PixelData = encapsulate([imagecodecs.ljpeg_encode(pixels.astype("<u2"), bitspersample=16)])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = pydicom.uid.UID("1.2.840.10008.1.2.4.57")
        ds.SeriesInstanceUID = f"{ds.SeriesInstanceUID}.57"
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.57"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 9
        ds.SeriesDescription = f"{ds.SeriesDescription} (JPEG Lossless)"
        target = out / path.name
        ds.save_as(target, enforce_file_format=True)
        written.append(target)
    return written


def jpeg_baseline_copy(paths: list[Path], out: Path) -> list[Path]:
    """A JPEG baseline (Process 1, .50: 8-bit lossy) copy, as some archives keep CT for the web. 8 bits
    cannot hold CT's range, so stored = (HU + 1024) / 8, clipped to 0..255, with Rescale Slope 8 and
    Intercept -1024 (PS3.3 C.11.1.1.2: HU = 8 * stored - 1024); quality 90, 4:0:0 (one component)."""
    try:
        import imagecodecs  # type: ignore[import-not-found,unused-ignore]
        import numpy as np
        import pydicom
        from pydicom.encaps import encapsulate
    except ImportError:
        return []
    if not getattr(imagecodecs, "JPEG8", None) or not imagecodecs.JPEG8.available:
        return []
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array.astype("<f4") * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        stored = np.clip(np.rint((hu + 1024) / 8), 0, 255).astype("u1")
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.RescaleSlope, ds.RescaleIntercept = 8, -1024
        ds.PixelData = encapsulate([imagecodecs.jpeg8_encode(stored, level=90)])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = pydicom.uid.UID("1.2.840.10008.1.2.4.50")
        ds.SeriesInstanceUID = f"{ds.SeriesInstanceUID}.50"
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.50"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 10
        ds.SeriesDescription = f"{ds.SeriesDescription} (JPEG Baseline)"
        target = out / path.name
        ds.save_as(target, enforce_file_format=True)
        written.append(target)
    return written
