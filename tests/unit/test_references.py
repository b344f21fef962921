"""Resolving references is by index: the work grows with the number of references, never with
references times contained resources (a quadratic scan held a worker for 9 s)."""

from __future__ import annotations

from typing import Any

from cds_service.fhir.references import ResourceIndex


class ReadCounting(list[Any]):
    """A ``contained`` list that counts how often it is read through."""

    reads = 0

    def __iter__(self) -> Any:
        self.reads += 1
        return super().__iter__()


def test_contained_resources_are_read_once_however_many_references_point_into_them() -> None:
    contained = ReadCounting({"resourceType": "Condition", "id": f"c{i}"} for i in range(3000))
    order = {"resourceType": "ServiceRequest", "contained": contained}
    index = ResourceIndex()

    found = [index.resolve(f"#c{i}", order) for i in range(0, 3000, 7)]
    missing = [index.resolve(f"#none-{i}", order) for i in range(3000)]

    assert [f["id"] for f in found if f] == [f"c{i}" for i in range(0, 3000, 7)]
    assert missing == [None] * 3000
    assert contained.reads == 1


def test_contained_look_up_keeps_the_first_of_a_duplicated_id_and_ignores_odd_items() -> None:
    first = {"resourceType": "Condition", "id": "dup", "code": {"text": "first"}}
    order = {"contained": [None, 7, {"id": 3}, first, {"resourceType": "Condition", "id": "dup"}]}
    index = ResourceIndex()
    assert index.resolve("#dup", order) is first
    assert index.resolve("#3", order) is None
    assert index.resolve("#dup", {"contained": "not a list"}) is None
    assert index.resolve("#dup", None) is None
