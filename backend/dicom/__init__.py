"""Pure DICOM building blocks for hospital ingest (issue 3). No database, no HTTP.

Modules:

* :mod:`.errors` - FailureReason / WarningReason codes (PS3.4 B.2.3, PS3.7 C) and ``DicomRejected``.
* :mod:`.parse` - ``parse_instance(path=..., limits=ParseLimits())`` -> ``ParsedInstance`` or raises
  ``DicomRejected``: size / pixel limits, lying lengths, no preamble / no meta, deflate.
* :mod:`.pixels` - where Pixel Data sits in the original file (native layout or fragment list).
* :mod:`.guarded`, :mod:`.filemeta` - the parser's helpers (length guard, File Meta, deflate).
* :mod:`.metadata` - ``extract_metadata(ds)`` -> patient / study / series / instance dataclasses,
  character sets decoded (GB18030, GBK, ISO_IR 192, ISO 2022 IR 58 ...); :mod:`.values` holds the
  tolerant value readers (bad IS/DS/DA/TM -> None).
* :mod:`.multipart` - streaming ``multipart/related`` reader for STOW-RS bodies (temp files, sha256),
  plus (re-exported from :mod:`.mime`) Content-Type parsing and a streaming encoder for clients.
* :mod:`.dicomjson` - STOW-RS responses (DICOM JSON, PS3.18 Annex F, and XML, PS3.19) and
  Dataset -> DICOM JSON with BulkDataURIs.
"""
