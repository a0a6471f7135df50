import hashlib
import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.events import CloudEvent, derived_id


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_derived_id_is_the_version5_uuid_of_the_parts_digest(parts: list[str]) -> None:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()[:16]
    assert derived_id(*parts) == str(uuid.UUID(bytes=digest, version=5))


def test_derived_ids_differ_when_any_part_differs() -> None:
    assert derived_id("ingest", "src", "m-1") != derived_id("ingest", "src", "m-2")
    assert derived_id("ingest", "src", "m-1") == derived_id("ingest", "src", "m-1")


def test_cloudevent_survives_a_json_round_trip() -> None:
    event = CloudEvent(
        type="io.threadline.ingest.track",
        source="threadline/test",
        data={"event": "order_completed"},
        subject="c-1",
        partitionkey="a-1",
    )
    again = CloudEvent.from_json(event.to_json())
    assert again.to_dict() == event.to_dict()
    assert again.routing_key == "ingest.track"
    assert event.headers()["ce-partitionkey"] == "a-1"
