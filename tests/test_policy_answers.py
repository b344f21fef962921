"""Every answer a policy gives, as data (issue 17): what a policy file may say per line of
business, what the service answers on an order, and what ``policy check`` tells an author."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cds_service.cli import main
from cds_service.crd_versions import VERSIONS
from cds_service.fhir.orders import Order
from cds_service.policy.answer import Answer, combine, decide
from cds_service.policy.determinations import Criterion, Determination, PriorAuthorization
from cds_service.respond import wording
from cds_service.respond.coverage_info import Assertion
from tests.support import EXAMPLE_PAYER, EXAMPLES, WITH_EXAMPLES, call, example

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
HCC = {"quote": "The tumor is a hepatocellular carcinoma.",
       "diagnoses": [{"any_of": [{"system": ICD, "code": "C22.0"}]}]}
SIZE = {"quote": "No tumor is larger than 3 cm."}


def det(**fields: Any) -> Determination:
    values: dict[str, Any] = {"heading": "Commercial", "covered": "covered",
                              "statement": {"quote": "The procedure is covered."}}
    values.update(fields)
    return Determination.model_validate(values)


def conditional(require: str = "all", **fields: Any) -> Determination:
    return det(covered="conditional", criteria={"require": require, "items": [HCC, SIZE]},
               statement={"quote": "The procedure is covered when these criteria are met:"},
               **fields)


# -- what a file may say ---------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "problem"), [
    ({"covered": "not-covered"}, "must say 'not covered'"),
    ({"covered": "not-covered", "statement": {"quote": "It is not covered."},
      "prior_authorization": {"needed": "auth-needed", "quote": "Ask first."}}, "CRD q2"),
    ({"statement": {"quote": "It is not medically necessary."}}, "contradicts covered"),
    ({"not_covered_as": "investigational"}, "only with covered: not-covered"),
    ({"covered": "conditional"}, "criteria: required with covered: conditional"),
    ({"criteria": {"require": "all", "items": [HCC]}}, "criteria: required with covered"),
    ({"prior_authorization": {"needed": "conditional", "quote": "If done in a hospital."}},
     "CRD q3"),
    ({"information": [{"needed": "location", "quote": "Where?"}]}, "only sent when"),
    ({"documentation": [{"needed": "clinical", "purpose": "withpa", "quote": "Send notes."}],
      "prior_authorization": {"needed": "no-auth", "quote": "It is not required."}}, "CRD q4"),
    ({"phrase": "covered"}, "phrase: no longer written"),
    ({"prior_authorization": {"needed": "auth-needed",
                              "quote": "Prior authorization is not required."}},
     "needed auth-needed, but the quote says 'not required'"),
    ({"prior_authorization": {"needed": "no-auth", "quote": "Ask us first."}},
     "needed no-auth, but the quote says none of"),
])
def test_a_determination_that_could_contradict_itself_is_refused(
        fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        det(**fields)


def test_each_kind_of_non_coverage_needs_its_own_words() -> None:
    for kind, words in (("not-covered", "is not covered"),
                        ("not-medically-necessary", "is not medically necessary"),
                        ("investigational", "is investigational")):
        d = det(covered="not-covered", not_covered_as=kind,
                statement={"quote": f"The procedure {words}."})
        assert wording.phrase(decide(d, [])).lower() in d.statement.quote.lower()


# -- what the service answers ----------------------------------------------------------------

def test_covered_only_when_the_request_proves_every_criterion() -> None:
    d = conditional()
    answer = decide(d, [(ICD, "C22.0")])
    # One of two proven: conditional, never not-covered, the unproven one quoted.
    assert answer.covered == "conditional"
    assert [c.quote for c in answer.unproven] == [SIZE["quote"]]
    assert answer.info_needed == ("OTH",)
    assert decide(d, []).covered == "conditional"


def test_any_criterion_proven_is_enough_for_any() -> None:
    d = conditional("any")
    assert decide(d, [(ICD, "C22.0")]).covered == "covered"
    assert decide(d, [(ICD, "C22.0")]).info_needed == ()
    unproven = decide(d, [])
    assert unproven.covered == "conditional" and len(unproven.unproven) == 2


def test_a_criterion_no_request_can_prove_is_never_taken_as_met() -> None:
    assert not Criterion.model_validate(SIZE).proven_by([(ICD, "C22.0")])


def answer(covered: str, pa: str | None = None, **fields: Any) -> Answer:
    return Answer(covered=covered, statement=f"{covered} statement.",
                  prior_authorization=PriorAuthorization(needed=pa, quote=f"PA {pa}.")
                  if pa else None, **fields)


def test_several_policies_combine_most_restrictive_first() -> None:
    assert combine([answer("covered", "no-auth"), answer("not-covered")]).covered == "not-covered"
    assert combine([answer("not-covered"), answer("covered", "auth-needed")]).pa_needed is None
    both = combine([answer("covered", "conditional"), answer("covered", "auth-needed")])
    assert (both.covered, both.pa_needed) == ("covered", "auth-needed")
    assert combine([answer("covered", "no-auth"), answer("conditional", "no-auth",
                   unproven=(Criterion.model_validate(SIZE),))]).covered == "conditional"


# -- wording derived from the coded answer ---------------------------------------------------

@pytest.mark.parametrize(("a", "indicator", "summary"), [
    (answer("not-covered", not_covered_as="investigational"), "warning",
     "Investigational for this Commercial member: x (CPT 1)"),
    (answer("covered", "auth-needed"), "info",
     "Covered for this Commercial member: x (CPT 1). Prior authorization needed."),
    (answer("covered", "no-auth"), "info", "Covered for this Commercial member: x (CPT 1)"),
    (answer("conditional", "conditional"), "warning", "Covered if criteria are met for this "
     "Commercial member: x (CPT 1). Prior authorization may be needed."),
])
def test_indicator_and_summary_come_from_the_codes(a: Answer, indicator: str,
                                                   summary: str) -> None:
    assert wording.indicator(a) == indicator
    assert wording.summary(a, "Commercial", "x (CPT 1)") == summary


def test_a_plain_covered_order_gets_no_card() -> None:
    assert not wording.needs_card(answer("covered", "no-auth"))
    assert wording.is_instructions(answer("covered", "auth-needed"))


# -- policy check, as an author runs it ------------------------------------------------------

@pytest.fixture
def example_payer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example policies' payer file, as an author of that payer's policies sets it."""
    monkeypatch.setenv("CDS_PAYER_FILE", str(EXAMPLE_PAYER))


@pytest.mark.usefixtures("example_payer")
def test_policy_check_accepts_the_example_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(EXAMPLES / "policies")]) == 0
    out = capsys.readouterr().out
    # The five example policies; the bundled one is another payer's, so not used.
    assert out.count(": ok (") == 5
    assert "cryosurgical-ablation-liver-tumors" not in out


def broken_example(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    for name in ("radioembolization-liver-tumors.yaml", "radioembolization-liver-tumors.txt"):
        shutil.copy(EXAMPLES / "policies" / name, tmp_path)
    path = tmp_path / "radioembolization-liver-tumors.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.usefixtures("example_payer")
def test_policy_check_names_the_accepted_values_of_a_coded_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["determinations"]["commercial"]["prior_authorization"]["needed"] = "yes"
        d["determinations"]["commercial"]["documentation"][0]["purpose"] = "later"
    broken_example(tmp_path, change)
    assert main(["policy", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "prior_authorization.needed: Input should be 'auth-needed', 'no-auth', " \
        "'conditional' or 'performpa'" in err
    assert "'withpa', 'withclaim', 'withorder' or 'retain-doc'" in err


@pytest.mark.usefixtures("example_payer")
def test_policy_check_names_the_valid_line_of_business_ids(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["determinations"]["medicaid"] = d["determinations"].pop("medicare-advantage")
    broken_example(tmp_path, change)
    assert main(["policy", "check", str(tmp_path)]) == 2
    assert "no line of business 'medicaid' in the payer file (its ids: medicare-advantage, " \
        "commercial)" in capsys.readouterr().err


@pytest.mark.usefixtures("example_payer")
def test_policy_check_shows_where_a_quote_stops_matching(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["determinations"]["medicare-advantage"]["statement"]["quote"] = (
            "Radioembolization of liver tumors with yttrium-90 spheres is covered for Medicare "
            "Advantage members.")
    broken_example(tmp_path, change)
    assert main(["policy", "check", str(tmp_path)]) == 2
    assert ("determinations.medicare-advantage.statement.quote: not found verbatim in "
            "radioembolization-liver-tumors.txt; it matches up to \u201c\u2026Radioembolization "
            "of liver tumors with yttrium-90\u201d, then reads \u201cspheres is covered for "
            "Medicare Advantage\u201d where the document reads \u201cmicrospheres is covered for "
            "Medicare Advantage\u201d") in capsys.readouterr().err


# -- through the HTTP API, as an EHR calls -----------------------------------------------------

def test_order_select_never_says_clinical_or_admin_documentation_is_needed(
        make_client: Callable[..., TestClient]) -> None:
    """CRD §hook-19; the card, worded from the same answer, keeps quiet about it too."""
    client = make_client(**WITH_EXAMPLES)
    body = example("order-sign-79445-commercial-hepatocellular-carcinoma")
    body["hook"] = "order-select"
    body["context"]["selections"] = ["ServiceRequest/sr-79445"]
    answer = call(client, body).json()
    [action] = answer["systemActions"]
    codes = {e["url"]: e.get("valueCode") for e in action["resource"]["extension"][-1]["extension"]}
    assert codes["pa-needed"] == "auth-needed"
    assert "doc-needed" not in codes and "doc-purpose" not in codes
    [card] = answer["cards"]
    assert card["summary"].endswith("Prior authorization needed.")
    assert "documentation" not in card["detail"].lower()
    signed = call(client, example("order-sign-79445-commercial-hepatocellular-carcinoma")).json()
    assert "documentation needed" in signed["cards"][0]["summary"].lower()


def test_documentation_is_said_in_each_crd_release() -> None:
    """2.0.1 allows one doc-needed (``both`` is clinical and admin) and has no ``patient``."""
    order = Order(0, {"resourceType": "ServiceRequest", "id": "o"}, "")
    a = Assertion(order, "Coverage/c", "covered", "auth-needed", doc_needed=("clinical", "admin"),
                  doc_purpose=("withpa",), reason="Covered.")
    assert a.for_version(VERSIONS["2.2"]).doc_needed == ("clinical", "admin")
    old = a.for_version(VERSIONS["2.0.1"])
    assert (old.doc_needed, old.doc_purpose) == (("both",), ("withpa",))
    patient = replace(a, doc_needed=("patient",)).for_version(VERSIONS["2.0.1"])
    assert (patient.doc_needed, patient.doc_purpose) == ((), ())
