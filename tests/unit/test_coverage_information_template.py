"""Coverage information per order comes from a template made once per (what is asserted, CRD
version): it must say exactly what building it the slow way (``for_version`` then
``coverage_information``) says, in every version, for every kind of assertion."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from itertools import product

from cds_service.crd_versions import ROWS
from cds_service.fhir.orders import Order
from cds_service.policy.models import ProcedureCode
from cds_service.respond.coverage_info import (
    Assertion,
    PolicyRef,
    assert_on,
    coverage_information,
)

CPT = "http://www.ama-assn.org/go/cpt"
ORDER = Order(0, {"resourceType": "ServiceRequest", "id": "o"}, "")
CODES = (ProcedureCode(system=CPT, code="47383", display="Ablation"),
         ProcedureCode(system=CPT, code="47371", display="Ablation, open"))
OTHER = (PolicyRef("other", "2", "https://payer.example/policies/other"),)


def kinds() -> list[Assertion]:
    """The payer's answer for unmatched orders, indeterminate for an unknown plan, and policy
    answers of every shape: each covered and pa-needed code, documentation (2.0.1 folds it),
    info-needed, billing codes, further reasons and other policies."""
    base = Assertion(ORDER, "Coverage/c", "covered")
    found = [
        replace(base, pa_needed="no-auth", reason="No policy applies to this order."),
        replace(base, covered="indeterminate", reason="The plan type is unknown.",
                billing_codes=CODES[:1], policy_url="https://payer.example/p", policy_id="p",
                policy_version="1", other_policies=OTHER),
    ]
    for covered, pa in product(("covered", "not-covered", "conditional", "indeterminate"),
                               (None, "no-auth", "auth-needed", "conditional", "indeterminate")):
        found.append(replace(
            base, covered=covered, pa_needed=pa, info_needed=("detail-code", "performer"),
            reason="Covered when the criteria are met.", billing_codes=CODES,
            policy_url="https://payer.example/p", policy_id="p", policy_version="1",
            phrase="covered", doc_needed=("clinical", "admin"), doc_purpose=("withpa",),
            further_reasons=("The tumor is a hepatocellular carcinoma.",),
            other_policies=OTHER))
    found += [replace(found[-1], doc_needed=docs, other_policies=())
              for docs in (("patient",), ("clinical",), ())]
    return found


def test_the_template_says_what_the_slow_builder_says_in_every_version() -> None:
    today = date(2026, 12, 7)
    for version, a in product(ROWS, kinds()):
        slow = a.for_version(version)
        expected = coverage_information(slow, assertion_id="id-1", today=today, version=version)
        for _ in range(2):  # the first call makes the template, the second reads it
            said, extension = assert_on(a, assertion_id="id-1", today=today.isoformat(),
                                        version=version)
            assert said == slow, (version.name, a)
            assert extension == expected, (version.name, a)


def test_each_order_gets_its_own_coverage_date_and_id_from_one_template() -> None:
    version = ROWS[-1]
    a = Assertion(ORDER, "Coverage/c", "covered", "no-auth", reason="No policy applies.")
    other = Order(1, {"resourceType": "ServiceRequest", "id": "p"}, "")
    first, ext1 = assert_on(a, assertion_id="id-1", today="2026-12-07", version=version)
    second, ext2 = assert_on(replace(a, order=other, coverage_reference="Coverage/d"),
                             assertion_id="id-2", today="2026-12-08", version=version)
    assert (first.order, second.order) == (ORDER, other)
    subs1 = {s["url"]: s for s in ext1["extension"]}
    subs2 = {s["url"]: s for s in ext2["extension"]}
    assert subs1["coverage"]["valueReference"] == {"reference": "Coverage/c"}
    assert subs2["coverage"]["valueReference"] == {"reference": "Coverage/d"}
    assert (subs1["date"]["valueDate"], subs2["date"]["valueDate"]) == ("2026-12-07",
                                                                         "2026-12-08")
    assert (subs1["coverage-assertion-id"]["valueString"],
            subs2["coverage-assertion-id"]["valueString"]) == ("id-1", "id-2")
