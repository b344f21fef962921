"""Da Vinci CRD coverage-information system action (CRD STU 2.2 cards.md "Coverage Information").

An ``update`` of the order that changes nothing but the coverage-information extension
(§resp-37), one per in-scope order of a primary hook (§hook-16, §resp-26). What is asserted comes
from data: a policy's determination for the member's line of business, or the payer file's
assertion for unmatched orders and unknown plans, in CRD 2.2 terms; ``for_version`` says it in
the vocabulary of the version the client speaks (``crd_versions``). Invariants q2, q3, q6 and q9
hold by construction (checked on the payer file at load, and by ``for_version`` per version).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import date
from operator import attrgetter
from typing import Any

from cds_service.crd_versions import CrdVersion
from cds_service.fhir.clean import pruned
from cds_service.fhir.coding import elements
from cds_service.fhir.orders import Order
from cds_service.hooks.response import Action
from cds_service.policy.models import ProcedureCode

COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
# Sub-extensions that differ between two assertions of the same thing made on different calls.
_PER_CALL = {"date", "coverage-assertion-id"}
# Bound on the templates kept: what can be asserted is fixed by the loaded policies and payer
# file, far fewer. After a reload, templates of what is no longer said are never read again
# (the key is the whole content), and the bound clears them.
_MAX_TEMPLATES = 4096


@dataclass(frozen=True)
class PolicyRef:
    id: str
    version: str
    url: str


@dataclass(frozen=True)
class Assertion:
    """One coverage-information assertion about one order, before ids and dates are added."""

    order: Order
    coverage_reference: str
    covered: str
    pa_needed: str | None = None
    info_needed: tuple[str, ...] = ()
    reason: str | None = None
    billing_codes: tuple[ProcedureCode, ...] = ()
    policy_url: str | None = None
    policy_id: str | None = None
    policy_version: str | None = None
    phrase: str | None = None
    """The determination in a few words, for the action's description."""
    doc_needed: tuple[str, ...] = ()
    doc_purpose: tuple[str, ...] = ()
    further_reasons: tuple[str, ...] = ()
    """Policy quotes behind pa-needed, doc-needed and info-needed (the unproven criteria among
    them), sent as ``reason`` texts after the statement."""
    other_policies: tuple[PolicyRef, ...] = ()
    """Further policies that decided on the order (combined into this one assertion); each
    gets a policy-link detail."""

    def for_version(self, version: CrdVersion) -> Assertion:
        """The same assertion in ``version``'s codes (CRD before 2.2 has no ``indeterminate``:
        ``conditional`` with info-needed ``OTH`` and the reason says the same, crd-ci-q3, q6)."""
        code = version.say
        covered = code(self.covered) or "conditional"
        pa_needed = code(self.pa_needed) if self.pa_needed is not None else None
        if version.pa_needed_unless_not_covered and covered != "not-covered" \
                and pa_needed is None:
            # 2.0.1 crd-ci-q2: whatever is not not-covered states its prior-authorization rule;
            # the payer stated none, so it depends on what it does not know.
            pa_needed = "conditional"
        info = tuple(dict.fromkeys(c for c in map(code, self.info_needed) if c))
        if "conditional" in (covered, pa_needed) and not info:
            info = ("OTH",)
        docs = tuple(dict.fromkeys(c for c in map(code, self.doc_needed) if c))
        if version.doc_needed_max is not None and len(docs) > version.doc_needed_max:
            # 2.0.1 allows one doc-needed; its ``both`` is clinical and admin together.
            docs = ("both",) if set(docs) == {"clinical", "admin"} else docs[:1]
        purposes = self.doc_purpose if docs else ()
        return replace(self, covered=covered, pa_needed=pa_needed, info_needed=info,
                       doc_needed=docs, doc_purpose=purposes)


@dataclass(frozen=True)
class Template:
    """What one assertion says in one CRD version, worked out once (``for_version`` and the
    extension's sub-extensions); each order it is made on adds only its Coverage, the date and
    an assertion id (``assert_on``)."""

    said: dict[str, Any]
    """The fields ``for_version`` changes, with their new values (usually none)."""
    subs: tuple[dict[str, Any], ...]
    """The sub-extensions between ``coverage`` and ``date``: shared by every extension made
    from the template, so never changed in place (the response is only serialised)."""


_CONTENT = tuple(f.name for f in fields(Assertion) if f.name not in {"order", "coverage_reference"})
_content = attrgetter(*_CONTENT)
_TEMPLATES: dict[tuple[str, tuple[Any, ...]], Template] = {}


def template(a: Assertion, version: CrdVersion) -> Template:
    """The template for what ``a`` says (everything but its order and Coverage) in ``version``,
    made the first time it is asserted: the same (policy, version, line of business,
    indication), or the payer's answer for orders no policy decides, says the same every time."""
    key = (version.name, _content(a))
    found = _TEMPLATES.get(key)
    if found is None:
        said = a.for_version(version)
        subs = coverage_information(said, assertion_id="", today=date.min,
                                    version=version)["extension"]
        assert subs[0]["url"] == "coverage" and [s["url"] for s in subs[-2:]] == [
            "date", "coverage-assertion-id"]
        changed = {name: getattr(said, name) for name in _CONTENT
                   if getattr(said, name) != getattr(a, name)}
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.clear()
        found = _TEMPLATES[key] = Template(changed, tuple(subs[1:-2]))
    return found


def assert_on(a: Assertion, *, assertion_id: str, today: str, version: CrdVersion,
              ) -> tuple[Assertion, dict[str, Any]]:
    """``a`` said in ``version`` (``for_version``) and its coverage-information extension
    (``coverage_information``), from the template: the same values, without building them
    again for every order. ``today``: the date in ISO form."""
    t = template(a, version)
    extension = {"url": COVERAGE_INFORMATION, "extension": [
        {"url": "coverage", "valueReference": {"reference": a.coverage_reference}},
        *t.subs,
        {"url": "date", "valueDate": today},
        {"url": "coverage-assertion-id", "valueString": assertion_id},
    ]}
    return (replace(a, **t.said) if t.said else a), extension


def coverage_information(a: Assertion, *, assertion_id: str, today: date,
                         version: CrdVersion) -> dict[str, Any]:
    """The extension for ``a`` (already ``for_version``), in ``version``'s shape. (Per order,
    ``assert_on`` gives the same from a template.)"""
    subs: list[dict[str, Any]] = [
        {"url": "coverage", "valueReference": {"reference": a.coverage_reference}},
        {"url": "covered", "valueCode": a.covered},
    ]
    if a.pa_needed is not None:
        subs.append({"url": "pa-needed", "valueCode": a.pa_needed})
    subs += [{"url": "doc-needed", "valueCode": code} for code in a.doc_needed]
    subs += [{"url": "doc-purpose", "valueCode": code} for code in a.doc_purpose]
    subs += [{"url": "info-needed", "valueCode": code} for code in a.info_needed]
    subs += [{"url": "billingCode", "valueCoding": {
        "system": c.system, "code": c.code, "display": c.display}} for c in a.billing_codes]
    reasons = [a.reason] if a.reason is not None else []
    subs += [{"url": "reason", "valueCodeableConcept": {"text": text}}
             for text in dict.fromkeys([*reasons, *a.further_reasons])]
    link = version.details.get("policy-link")
    urls = [a.policy_url] if a.policy_url is not None and link is not None else []
    for url in dict.fromkeys([*urls, *(p.url for p in a.other_policies if urls)]):
        assert link is not None
        detail: list[dict[str, Any]] = []
        if version.detail_category:
            # THO crd-coverage-detail puts policy-link under _other ("Category should be
            # 'cat-other'").
            detail.append({"url": "category", "valueCode": "cat-other"})
        coding = {"system": link.system, "code": link.code}
        if link.display:
            coding["display"] = link.display
        detail += [
            {"url": "code", "valueCodeableConcept": {"coding": [coding]}},
            {"url": "value", link.value: url},
        ]
        subs.append({"url": "detail", "extension": detail})
    subs += [
        {"url": "date", "valueDate": today.isoformat()},
        {"url": "coverage-assertion-id", "valueString": assertion_id},
    ]
    return {"url": COVERAGE_INFORMATION, "extension": subs}


def already_asserted(resource: dict[str, Any], new: dict[str, Any]) -> bool:
    """The order already carries this assertion for this coverage, made on an earlier call:
    nothing new to say (CRD 2.2 §resp-29, §resp-35), so no action is sent."""
    same_coverage = [ext for ext in _ours(resource) if _coverage_of(ext) == _coverage_of(new)]
    # Exactly ours: a second, different assertion for the same Coverage beside it (stale, or
    # not ours) must be replaced, not left standing with ours.
    return len(same_coverage) == 1 and _comparable(same_coverage[0]) == _comparable(new)


def target(order: Order, version: CrdVersion) -> dict[str, Any]:
    """The resource that receives the assertion: the order, or for an Appointment booked for a
    request, the request or the Appointment, as the version says."""
    if order.via is not None and version.appointment_assertion == "appointment":
        return order.via
    return order.resource


def build_action(a: Assertion, *, extension: dict[str, Any], payer: str,
                 version: CrdVersion) -> Action:
    # The order as received, less what is not valid FHIR JSON (``"reasonCode": []``, nulls);
    # a shallow copy: only ``extension`` differs, and the request is never changed.
    resource = pruned(target(a.order, version))
    # Replace an earlier assertion for the same coverage, keep every other extension (§resp-37).
    kept = [ext for ext in elements(resource.get("extension"))
            if not (isinstance(ext, dict) and ext.get("url") == COVERAGE_INFORMATION
                    and _coverage_of(ext) == a.coverage_reference)]
    return Action(
        type="update",
        description=f"Record {payer} coverage information on the order "
                    f"{a.order.describe()}: {a.phrase or 'coverage ' + a.covered}",
        resource={**resource, "extension": [*kept, extension]},
    )


def _ours(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [ext for ext in elements(resource.get("extension"))
            if isinstance(ext, dict) and ext.get("url") == COVERAGE_INFORMATION]


def _comparable(ext: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(sub, sort_keys=True) for sub in elements(ext.get("extension"))
                  if not (isinstance(sub, dict) and sub.get("url") in _PER_CALL))


def _coverage_of(ext: dict[str, Any]) -> str | None:
    for sub in elements(ext.get("extension")):
        if isinstance(sub, dict) and sub.get("url") == "coverage":
            ref = sub.get("valueReference")
            return ref.get("reference") if isinstance(ref, dict) else None
    return None
