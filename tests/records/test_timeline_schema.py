"""A timeline item's ``data`` is typed in the OpenAPI description as a union discriminated by ``kind``,
and the typed models say exactly what each built-in kind's ``summarize`` writes: the JSON on the wire
is the stored ``data``, key for key and value for value."""

from __future__ import annotations

from typing import Any, get_args

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import select

from backend.config import Settings
from backend.db import session_scope
from backend.demo_records import seed_records
from backend.people.models import Person
from backend.records import registry
from backend.records.models import TimelineEntry
from backend.records.schemas import OtherTimelineItem, TimelineItemOf, TypedTimelineItem
from tests.records.helpers import read_as

REF = "#/components/schemas/"


def _typed_members() -> dict[str, type[TimelineItemOf[Any, Any]]]:
    """kind -> item model of the discriminated union, read from the union itself."""
    union, _field = get_args(TypedTimelineItem)
    members: dict[str, type[TimelineItemOf[Any, Any]]] = {}
    for model in get_args(union):
        [kind] = get_args(model.model_fields["kind"].annotation)
        members[kind] = model
    return members


def _data_model(item_model: type[BaseModel]) -> type[BaseModel]:
    data = item_model.model_fields["data"].annotation
    assert isinstance(data, type) and issubclass(data, BaseModel)
    return data


def test_the_spec_types_data_as_the_union_of_the_builtin_kinds(app: FastAPI) -> None:
    members = _typed_members()
    # Every kind the app registers has its item model (a new built-in kind must declare its data).
    assert set(members) == {k.name for k in registry.all_kinds()} == {"imaging_study", "lab_result", "checkup"}
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    items = schemas["TimelineResponse"]["properties"]["items"]["items"]
    typed, other = items["anyOf"]
    assert other == {"$ref": f"{REF}OtherTimelineItem"}
    assert typed["discriminator"] == {
        "propertyName": "kind", "mapping": {k: f"{REF}{m.__name__}" for k, m in members.items()}}
    assert sorted(r["$ref"] for r in typed["oneOf"]) == sorted(f"{REF}{m.__name__}" for m in members.values())
    for kind, model in members.items():
        component = schemas[model.__name__]
        assert component["properties"]["kind"]["const"] == kind
        data_model = _data_model(model)
        assert component["properties"]["data"] == {"$ref": f"{REF}{data_model.__name__}"}
        # The component is the model's own JSON schema, every field required (always sent).
        own = data_model.model_json_schema(ref_template=REF + "{model}", mode="serialization")
        assert schemas[data_model.__name__] == own
        assert set(own["required"]) == set(data_model.model_fields)
    # The common fields are the same in every variant, in the same order as before the union.
    order = list(schemas["OtherTimelineItem"]["properties"])
    assert order == ["id", "kind", "kind_label", "kind_label_en", "ref_id", "occurred_at", "title", "summary",
                     "status", "institution", "detail_url", "data"]
    assert all(list(schemas[m.__name__]["properties"]) == order for m in members.values())


def test_each_kinds_data_goes_out_exactly_as_summarize_wrote_it(
    client: httpx.Client, app: FastAPI, engine: Engine, settings: Settings
) -> None:
    seed_records(settings=settings, engine=engine, ct_slices=6)  # real studies, labs and checkups
    with session_scope(engine, readonly=True) as s:
        zhang = s.exec(select(Person).where(Person.name == "张伟")).one()
        stored = {e.id: dict(e.data) for e in s.exec(select(TimelineEntry)).all()}
    read_as(app, engine, zhang.id)
    body = client.get(f"/api/v1/people/{zhang.id}/timeline", params={"limit": 100}).json()
    members = _typed_members()
    typed = TypeAdapter(TypedTimelineItem)
    assert {i["kind"] for i in body["items"]} == set(members)
    for item in body["items"]:
        assert item["data"] == stored[item["id"]]
        assert set(item["data"]) == set(_data_model(members[item["kind"]]).model_fields), item["kind"]
        parsed = typed.validate_python(item)  # the typed variant, not the catch-all
        assert type(parsed) is members[item["kind"]] and not isinstance(parsed, OtherTimelineItem)
        assert parsed.model_dump(mode="json")["data"] == item["data"]


def test_data_that_outgrew_its_model_goes_out_whole() -> None:
    """A built-in kind whose summarize wrote a key its model does not (yet) name: the item falls back to
    the catch-all variant and its data is sent as stored, never cut down to the model."""
    from backend.records.schemas import TimelineResponse

    data = {"modalities": ["CT"], "body_part": "CHEST", "series_count": 1, "instance_count": 3,
            "has_report": False, "mutual_recognition_mark": None, "summary_en": None, "added_later": [1, 2]}
    item = {"id": "e1", "kind": "imaging_study", "kind_label": "影像检查", "kind_label_en": "Imaging study",
            "ref_id": "s1", "occurred_at": "2024-01-02T03:04:05+00:00", "title": "胸部CT", "summary": "",
            "status": None, "institution": None, "detail_url": None, "data": data}
    page = TimelineResponse.model_validate({"items": [item], "next_cursor": None})
    assert isinstance(page.items[0], OtherTimelineItem)
    assert page.model_dump(mode="json")["items"][0]["data"] == data
    del data["added_later"]
    assert type(TimelineResponse.model_validate({"items": [item], "next_cursor": None}).items[0]).__name__ \
        == "StudyTimelineItem"
