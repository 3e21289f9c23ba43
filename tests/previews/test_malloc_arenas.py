"""A web process keeps its malloc arenas few (issue 18: memory grew in steps during faults).

glibc gives each new thread an arena of its own, up to 8 per core, and with pool.tune_malloc's trim
threshold each arena keeps up to 32 MB of freed memory. During a fault many requests wait in the
thread pool at once (timeouts on Redis, PostgreSQL, the object store), each thread allocates in an arena
of its own, and the resident set grows by a step that is never given back. tune_malloc caps the arenas.
Each case runs in a fresh interpreter: the cap applies to arenas made after it."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")

PROBE = """
import ctypes, os, sys, tempfile, threading
import numpy as np
from backend.previews.pool import tune_malloc
if sys.argv[1] == "tuned":
    assert tune_malloc()
start = threading.Barrier(16)
def work():
    start.wait()  # all at once, as requests waiting out a fault are
    for _ in range(20):
        buffer = np.ones(1 << 18)  # 2 MB, a render's size
        del buffer
threads = [threading.Thread(target=work) for _ in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL(None)
libc.fdopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
fd, path = tempfile.mkstemp()
out = libc.fdopen(fd, b"w")
libc.malloc_info(0, out)  # one <heap nr=...> element per arena
libc.fclose(out)
print(open(path).read().count("<heap nr="))
os.unlink(path)
"""


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip())


def test_sixteen_busy_threads_share_the_capped_arenas() -> None:
    assert _arenas("untuned") > 4  # glibc's default: an arena per thread (up to 8 per core)
    assert _arenas("tuned") <= 2
