"""The ids the service makes (cards, suggestions, coverage assertions) are UUIDs, unique, and in
the order they were made: each is a key of an index in the records database, where keys made in
order are appended to one page rather than scattered over the index (evaluate._uuid)."""

from __future__ import annotations

import uuid

from cds_service.evaluate import _uuid


def test_ids_are_distinct_version_7_uuids_in_the_order_they_were_made() -> None:
    ids = [_uuid() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids)
