"""Reasons read from an order as the EHR wrote them (pure)."""

from __future__ import annotations

from cds_service.fhir.clean import pruned
from cds_service.fhir.reasons import MAX_LABEL, Reason, order_reasons, reason_of

SCT = "http://snomed.info/sct"


def test_label_is_text_else_display_else_system_and_code() -> None:
    coding = {"system": "urn:oid:2.16.840.1.113883.6.96", "code": "109841003",
              "display": "Liver cell carcinoma (disorder)"}
    assert reason_of({"coding": [coding], "text": "HCC"}) == Reason("HCC", ((SCT, "109841003"),))
    assert reason_of({"coding": [coding]}).label == "Liver cell carcinoma (disorder)"  # type: ignore[union-attr]
    assert reason_of({"coding": [{"system": SCT, "code": "1"}]}).label == "SNOMED CT 1"  # type: ignore[union-attr]
    assert reason_of({"coding": [{"code": "X1"}]}) == Reason("X1", ())


def test_a_concept_naming_nothing_is_no_reason() -> None:
    for concept in ({}, {"coding": []}, {"coding": [{"display": " "}]}, {"text": ""}, "C22.0", 5):
        assert reason_of(concept) is None


def test_long_or_multiline_text_is_cut_and_collapsed() -> None:
    reason = reason_of({"text": "a\n\n b " + "x" * 500})
    assert reason is not None and len(reason.label) == MAX_LABEL and reason.label.startswith("a b")


def test_reason_references_count_even_when_unreadable() -> None:
    order = {"reasonCode": [{"text": "first"}],
             "reasonReference": [{"reference": "#c1"}, {"reference": "Condition/x"},
                                 {"reference": "Condition/y", "display": "Rectal cancer"}]}
    condition = {"resourceType": "Condition",
                 "code": {"coding": [{"system": SCT, "code": "363351006"}]}}
    found = order_reasons(order, [(order["reasonReference"][0], condition),
                                  (order["reasonReference"][1], None),
                                  (order["reasonReference"][2], None)])
    assert [r.label for r in found] == ["first", "SNOMED CT 363351006", "Condition/x",
                                        "Rectal cancer"]
    assert found[1].codings == ((SCT, "363351006"),)


def test_pruned_drops_nulls_and_empty_values_but_keeps_primitive_alignment() -> None:
    # "" goes too: R4 datatypes "Strings SHALL NOT be empty" (Inferno's Appointment sends one).
    value = {"a": [], "b": {}, "c": None, "d": [{}, None, 1, {"x": []}], "e": {"f": {"g": None}},
             "given": ["A", None], "_given": [None, {"id": "x"}], "h": [None], "i": 0, "j": ""}
    assert pruned(value) == {"d": [1], "given": ["A", None], "_given": [None, {"id": "x"}],
                             "i": 0}
