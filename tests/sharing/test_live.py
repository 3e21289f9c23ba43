"""Against a real server process (``yunying serve``): the 50-client race for a single open, the code
lockout counted across two workers, DICOMweb with a share session (dicomweb-client), and the token
never in the server's log."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
import requests
from dicomweb_client.api import DICOMwebClient

from tests.conftest import LiveServer
from tests.sharing.world import ShareWorld, token_of

LiveFactory = Callable[..., AbstractContextManager[LiveServer]]


def _open_with(url: str, token: str, code: str | None = None) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as c:  # a client of its own: its own connection
        return c.post(f"/s/{token}/session", json={"access_code": code})


def test_max_opens_one_fifty_clients_exactly_one_gets_in(world: ShareWorld, live_server: LiveServer) -> None:
    made = world.create(max_opens=1)
    token = token_of(made["url"])
    start = threading.Barrier(50)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        res = _open_with(live_server.url, token)
        with lock:
            statuses.append(res.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert Counter(statuses) == Counter({200: 1, 410: 49})
    listed = world.client.get(f"/api/v1/people/{world.person_id}/shares", headers=world.owner_headers()).json()
    item = next(i for i in listed["items"] if i["id"] == made["id"])
    assert item["opens"] == 1 and len(item["open_log"]) == 1
    assert token not in live_server.log.read_text(errors="replace")


def _lockout_across_workers(world: ShareWorld, live_server_factory: LiveFactory, env: dict[str, str]) -> None:
    made = world.create(with_access_code=True)
    token, code = token_of(made["url"]), made["access_code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with live_server_factory(workers=2, extra_env=env) as server:
        seen = [_open_with(server.url, token, wrong).status_code for _ in range(5)]  # new connection each
        assert seen == [403] * 5
        locked = _open_with(server.url, token, code)
        assert locked.status_code == 429, locked.text
        others = [_open_with(server.url, token, code).status_code for _ in range(4)]
        assert others == [429] * 4  # whichever worker answers


def test_code_lockout_is_shared_by_two_workers(world: ShareWorld, live_server_factory: LiveFactory) -> None:
    _lockout_across_workers(world, live_server_factory, {})  # counted in the database


def test_code_lockout_in_redis_is_shared_by_two_workers(
    world: ShareWorld, live_server_factory: LiveFactory, redis_url: str
) -> None:
    _lockout_across_workers(world, live_server_factory, {"YUNYING_REDIS_URL": redis_url})


@pytest.fixture
def share_session(world: ShareWorld, live_server: LiveServer) -> requests.Session:
    made = world.create(study_ids=[world.studies["a"]], allow_download=True)  # WADO-RS retrieve needs it
    sess = requests.Session()
    res = sess.post(f"{live_server.url}/s/{token_of(made['url'])}/session", json={})
    assert res.status_code == 200, res.text
    assert sess.cookies.get("yy_share")
    return sess


def test_dicomweb_client_sees_exactly_the_shared_study(
    world: ShareWorld, live_server: LiveServer, share_session: requests.Session
) -> None:
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb", session=share_session)
    studies = client.search_for_studies()
    assert [s["0020000D"]["Value"][0] for s in studies] == [world.uids["a"]]
    assert client.search_for_studies(search_filters={"StudyInstanceUID": world.uids["b"]}) == []
    assert len(client.search_for_instances()) == 3
    retrieved: list[Any] = client.retrieve_study(world.uids["a"])
    assert sorted(ds.SOPInstanceUID for ds in retrieved) == sorted(
        i["00080018"]["Value"][0] for i in client.search_for_instances(study_instance_uid=world.uids["a"]))
    assert all(ds.pixel_array.shape == (512, 512) for ds in retrieved)
    for uid in (world.uids["b"], world.uids["other"]):
        with pytest.raises(requests.HTTPError) as denied:
            client.retrieve_study(uid)
        assert denied.value.response is not None and denied.value.response.status_code == 404
    series = client.search_for_series(study_instance_uid=world.uids["a"])[0]["0020000E"]["Value"][0]
    instance = retrieved[0].SOPInstanceUID
    rendered = share_session.get(f"{live_server.url}/dicomweb/studies/{world.uids['a']}/series/{series}"
                                 f"/instances/{instance}/rendered", headers={"Accept": "image/jpeg"})
    assert rendered.status_code == 200 and rendered.content[:2] == b"\xff\xd8"


def test_dicomweb_client_of_a_share_without_download_gets_no_originals(
    world: ShareWorld, live_server: LiveServer
) -> None:
    made = world.create(study_ids=[world.studies["a"]])
    sess = requests.Session()
    assert sess.post(f"{live_server.url}/s/{token_of(made['url'])}/session", json={}).status_code == 200
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb", session=sess)
    assert [s["0020000D"]["Value"][0] for s in client.search_for_studies()] == [world.uids["a"]]
    assert client.retrieve_study_metadata(world.uids["a"])  # masked metadata, no pixel data
    with pytest.raises(requests.HTTPError) as denied:
        client.retrieve_study(world.uids["a"])
    assert denied.value.response is not None and denied.value.response.status_code == 403


def test_dicomweb_without_a_share_session_is_refused(world: ShareWorld, live_server: LiveServer) -> None:
    client = DICOMwebClient(url=f"{live_server.url}/dicomweb", session=requests.Session())
    with pytest.raises(requests.HTTPError) as denied:
        client.search_for_studies()
    assert denied.value.response is not None and denied.value.response.status_code == 401
