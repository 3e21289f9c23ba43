"""Background work on Celery with real processes: a RabbitMQ vhost of its own, `yunying serve` and
`yunying worker` as subprocesses sharing the database and the data directory.

* the worker killed with -9 (every process of it) in the middle of pre-rendering a study: after a
  restart every preview exists and is byte-identical to an uninterrupted run; one WeChat notice;
* the broker unreachable (from the web node and the worker: as when RabbitMQ restarts) while the web
  node commits a study: the jobs wait in the outbox and are published once the broker is back (none
  lost), then run by the worker, which reconnected by itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from backend.config import Settings
from backend.notify.service import MESSAGE_TITLE
from backend.previews.cache import DerivedCache
from tests.conftest import run_live_server
from tests.jobs.conftest import Forwarder, queue_depths, run_worker, wait_for
from tests.jobs.helpers import (
    expected_files,
    hospital_and_patient,
    outbox_kinds,
    present,
    reference_render,
    series_ids,
    started,
    stow,
    templates,
)
from tools.synthetic import write_ct_series

pytestmark = [pytest.mark.live, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_worker_killed_mid_prerender_finishes_after_restart(settings: Settings, engine: Engine, broker_url: str,
                                                            tmp_path: Path) -> None:
    paths = write_ct_series(out_dir=tmp_path / "ct", seed=31, slices=200, size=256)
    derived = DerivedCache(settings.storage.derived)
    with run_live_server(settings, extra_env={"YUNYING_BROKER_URL": broker_url}) as web:
        auth = hospital_and_patient(settings, engine, web.url)
        log = settings.data_dir / "worker.log"
        with run_worker(web.env, log) as worker:
            stow(web.url, auth, paths)
            (series_id,) = series_ids(engine)
            files = expected_files(engine, series_id)
            # Kill the worker as soon as it has written some previews, long before the series is done.
            wait_for(lambda: started(derived, files[1:-1]), 90, "pre-rendering to start", interval=0.01)
            worker.kill()
        done_before = present(derived, files)
        assert done_before < len(files), "the kill came too late: pre-rendering had finished"
        # RabbitMQ took the unacknowledged job back when the worker's connection dropped.
        wait_for(lambda: queue_depths(broker_url).get("yunying.prerender", (0, 0))[0] >= 1, 30,
                 "the pre-render job back in its queue")
        with run_worker(web.env, log):
            wait_for(lambda: present(derived, files) == len(files), 120, "every preview after the restart")
            wait_for(lambda: len(templates(web.url)) >= 1, 30, "the WeChat notice")
            time.sleep(2)  # a duplicate would have been sent by now: the notice job ran long ago
            inbox = templates(web.url)
    assert len(inbox) == 1 and inbox[0]["to"] == "demo-patient", inbox
    assert inbox[0]["data"]["first"]["value"] == MESSAGE_TITLE
    # Every output equals what an uninterrupted in-process run of the same job writes.
    reference = reference_render(settings, engine, series_id, tmp_path / "reference")
    for rel in files:
        assert derived.get(rel) == reference.get(rel) is not None, rel


def test_broker_outage_jobs_wait_in_the_outbox_and_are_published_when_it_is_back(
        settings: Settings, engine: Engine, broker_url: str, tmp_path: Path) -> None:
    paths = write_ct_series(out_dir=tmp_path / "ct", seed=32, slices=6, size=64)
    host_port = broker_url.split("@", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    forwarder = Forwarder((host, int(port or 5672)))
    forwarder.start()
    through = broker_url.replace(f"@{host_port}/", f"@127.0.0.1:{forwarder.port}/")
    derived = DerivedCache(settings.storage.derived)
    try:
        with run_live_server(settings, extra_env={"YUNYING_BROKER_URL": through}) as web:
            auth = hospital_and_patient(settings, engine, web.url)
            with run_worker(web.env, settings.data_dir / "worker.log"):
                forwarder.cut()  # from here on neither the web node nor the worker reaches RabbitMQ
                stow(web.url, auth, paths)
                (series_id,) = series_ids(engine)
                files = expected_files(engine, series_id)
                time.sleep(6)  # past the pre-render debounce (3 s): the relay has tried and failed
                assert outbox_kinds(engine) == ["notify", "prerender"]  # committed, kept, not lost
                assert present(derived, files) == 0 and templates(web.url) == []
                forwarder.start()  # the broker is back
                wait_for(lambda: outbox_kinds(engine) == [], 30, "the relay to publish the outbox")
                wait_for(lambda: present(derived, files) == len(files), 60, "the worker to pre-render")
                wait_for(lambda: len(templates(web.url)) == 1, 30, "the WeChat notice")
    finally:
        forwarder.cut()


def test_a_job_over_its_hard_time_limit_is_killed_and_the_worker_goes_on(
        settings: Settings, engine: Engine, broker_url: str, tmp_path: Path) -> None:
    """A pre-render longer than YUNYING_JOB_TIME_LIMIT_S, as a decoder stuck in C code would be: the worker
    child running it is killed and replaced, the job is not retried, and the next study's jobs run on the
    fresh child.

    The limit is wall time, and CI runs this beside the PostgreSQL pass on two cores: with 0.2 s, the small
    study's pre-render (0.01–0.03 s alone) once overran it too. So 1 s, and a big series of 300 512×512
    frames (300 of 256×256 took 1.1 s alone on a slow machine; this is four times the pixels)."""
    big = write_ct_series(out_dir=tmp_path / "big", seed=33, slices=300, size=512)
    small = write_ct_series(out_dir=tmp_path / "small", seed=34, slices=3, size=64)
    limit = 1.0
    env = {"YUNYING_BROKER_URL": broker_url, "YUNYING_JOB_TIME_LIMIT_S": str(limit)}
    derived = DerivedCache(settings.storage.derived)
    with run_live_server(settings, extra_env=env) as web:
        auth = hospital_and_patient(settings, engine, web.url)
        log = settings.data_dir / "worker.log"
        with run_worker(web.env, log) as worker:
            stow(web.url, auth, big)
            (big_series,) = series_ids(engine)
            wait_for(lambda: f"Hard time limit ({limit}s) exceeded for yunying.prerender"
                     in log.read_text(errors="replace"),
                     60, "the time limit to stop the pre-render")
            stow(web.url, auth, small)
            (small_series,) = [s for s in series_ids(engine) if s != big_series]
            files = expected_files(engine, small_series)
            wait_for(lambda: present(derived, files) == len(files), 60, "the next study's previews")
            wait_for(lambda: len(templates(web.url)) == 2, 30, "a notice per study")
            assert worker.process.poll() is None
            assert present(derived, expected_files(engine, big_series)) < len(expected_files(engine, big_series))
            assert queue_depths(broker_url).get("yunying.prerender", (0, 0)) == (0, 0)  # not retried
