"""What the log may say about a request: our words, codes and ids, never the caller's text."""

from __future__ import annotations

import sys

from cds_service.fhir.names import loggable_path
from cds_service.logs import caller_id, traceback_without_values


def test_element_paths_stop_before_a_name_we_do_not_know() -> None:
    known = "context.draftOrders.entry[0].resource.reasonReference[2].reference"
    assert loggable_path(known) == known
    assert loggable_path("context.draftOrders.entry[0].resource.Brightwater.code") == \
        "context.draftOrders.entry[0].resource.…"
    assert loggable_path("prefetch.MRN-00481516") == "prefetch.…"
    assert loggable_path("feedback.0.overrideReason.userComment") == \
        "feedback.0.overrideReason.userComment"
    assert loggable_path("context.selections[0]") == "context.selections[0]"
    assert loggable_path("x[y]") == "…"


def test_caller_ids_are_logged_as_given_only_when_they_are_uuids() -> None:
    uuid = "d621c7d7-28db-4cae-9091-5ad232b30732"
    assert caller_id(uuid) == uuid
    assert caller_id(f"urn:uuid:{uuid}") == f"urn:uuid:{uuid}"
    assert caller_id(None) is None
    digest = caller_id("Brightwater 1954-06-21")
    assert isinstance(digest, str) and digest.startswith("sha256:") and len(digest) == 23
    assert "Brightwater" not in digest and caller_id("Brightwater 1954-06-21") == digest


def test_a_traceback_names_types_and_frames_but_no_message() -> None:
    def inner() -> None:
        raise KeyError("Brightwater")

    def outer() -> None:
        try:
            inner()
        except KeyError as exc:
            raise ValueError("MRN-00481516") from exc

    try:
        outer()
    except ValueError:
        info = sys.exc_info()
    assert info[0] is not None and info[1] is not None
    text = traceback_without_values((info[0], info[1], info[2]))
    assert "builtins.ValueError" in text and "builtins.KeyError" in text
    assert "in inner" in text and "in outer" in text and "test_log_fields.py:" in text
    assert "Brightwater" not in text and "MRN-00481516" not in text
