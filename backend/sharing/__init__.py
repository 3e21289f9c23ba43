"""Time-limited share links (issue 8): a patient shows a doctor exactly the studies they chose, for as
long as they chose.

- ``models``: share, its studies, and the doctor's share sessions.
- ``service``: create / list / revoke / extend (the patient's side).
- ``entry``: the doctor's side — token → (access code) → atomic open → share session.
- ``web``: the share-session cookie and its principal resolver.
- ``archive``: original DICOM as a streamed ZIP with a DICOMDIR (PS3.10 media).
- ``router`` (JSON API) and ``pages`` (the server-rendered ``/s/{token}`` entry).
"""
