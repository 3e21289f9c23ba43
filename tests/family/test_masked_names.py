"""A relative's name as the person sees it (grants list, access history) arrives masked and ready to
show: the first character and at most two stars, however long the WeChat nickname — a star per hidden
character would give the nickname's length away. The PWA shows these fields as they come."""

from __future__ import annotations

from tests.family import helpers as h

FATHER_RID = "320106196203150013"


def test_a_long_nickname_is_masked_to_two_stars_in_grants_and_the_access_log(client, engine, settings) -> None:
    inst = h.hospital(engine)
    father = h.person(engine, settings, inst, local_id="P1", resident_id=FATHER_RID, name="张伟")
    study = h.study(engine, inst, local_id="P1", uid="1.2.826.0.2.9")
    owner = h.account(engine, "o-owner", bind_to=father)
    son = h.account(engine, "o-son", nickname="张小明（演示·家属）")
    h.grant(engine, person_id=father, account_id=son, relationship="child")
    owner_h, son_h = h.cookie_headers(engine, settings, owner), h.cookie_headers(engine, settings, son)

    [grant] = client.get(f"/api/v1/people/{father}/grants", headers=owner_h).json()
    assert grant["grantee_name"] == "张**"
    assert client.get(f"/api/v1/people/{father}/studies/{study}", headers=son_h).status_code == 200
    log = client.get(f"/api/v1/people/{father}/access-log", headers=owner_h).json()["items"]
    [actor] = [i["actor"] for i in log if i["actor"]["kind"] == "relative"]
    assert (actor["display"], actor["masked_name"]) == ("张** (子女)", "张**")
    # Short names keep one star per hidden character: 张伟 -> 张*, as everywhere else.
    h.bind(engine, son, h.person(engine, settings, inst, local_id="P2", resident_id=h.rid_for(h.years_ago(30)),
                                 name="张强"))
    [grant] = client.get(f"/api/v1/people/{father}/grants", headers=owner_h).json()
    assert grant["grantee_name"] == "张*"


def test_two_relatives_of_one_relationship_are_told_apart_in_the_history() -> None:
    """Issue 19 item 3: two children 张晓娜 and 张晓明 are not both "张* (子女)" in the access history."""
    from backend.people.masking import mask_distinct

    assert [mask_distinct(n) for n in ("张晓娜", "张晓明", "欧阳晓锋", "张伟", "张小明（演示·家属）")] == [
        "张*娜", "张*明", "欧*锋", "张*", "张**"]
