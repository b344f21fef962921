"""Da Vinci CRD coverage-information rules for a systemAction (CRD STU 2.1 / 2.2, cards.md
"Coverage Information", extension ext-coverage-information and its invariants q1-q9).

Two layers, so the first can be proven on the IG's own examples:

- ``coverage_information_problems``: what any CRD server's coverage-information action must
  satisfy (shape, cardinalities, codes, invariants, a valid R4 resource);
- ``request_problems``: what our answer to one request must satisfy (the update echoes that
  request's draft order, cites a prefetched Coverage, today's date and the ordered CPT code).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

COVERAGE_INFORMATION = (
    "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information")
CPT = "http://www.ama-assn.org/go/cpt"
CPT_OID = "urn:oid:2.16.840.1.113883.6.12"
BILLING_OPTIONS = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options"
TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
COVERAGE_INFORMATION_CODES = (
    "http://hl7.org/fhir/us/davinci-crd/CodeSystem/coverage-information-codes")
CARD_TYPE_SYSTEMS = {
    "2.1": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp",
    "2.2": "http://terminology.hl7.org/CodeSystem/cdshooks-card-type",
}

# Resource types ext-coverage-information may sit on (its context).
CONTEXTS = {"Appointment", "CommunicationRequest", "Encounter", "DeviceRequest",
            "MedicationRequest", "NutritionOrder", "QuestionnaireResponse", "ServiceRequest",
            "VisionPrescription"}

_INF = math.inf
# sub-extension url: (min, max, allowed value[x] keys per version); () = a complex extension.
_SUB: dict[str, tuple[int, float, dict[str, tuple[str, ...]]]] = {
    "coverage": (1, 1, {"*": ("valueReference",)}),
    "covered": (1, 1, {"*": ("valueCode",)}),
    "pa-needed": (0, 1, {"*": ("valueCode",)}),
    "doc-needed": (0, _INF, {"*": ("valueCode",)}),
    "doc-purpose": (0, _INF, {"*": ("valueCode",)}),
    "info-needed": (0, _INF, {"*": ("valueCode",)}),
    "billingCode": (0, _INF, {"*": ("valueCoding",)}),
    "reason": (0, _INF, {"*": ("valueCodeableConcept",)}),
    "detail": (0, _INF, {"*": ()}),
    "dependency": (0, _INF, {"*": ("valueReference",)}),
    "questionnaire": (0, _INF, {"*": ("valueCanonical",)}),
    "response": (0, _INF, {"*": ("valueReference",)}),  # a QuestionnaireResponse, for DTR
    "date": (1, 1, {"*": ("valueDate",)}),
    "coverage-assertion-id": (1, 1, {"*": ("valueString",)}),
    "satisfied-pa-id": (0, 1, {"*": ("valueString",)}),
    # 2.1: ContactPoint; 2.2: ContactDetail.
    "contact": (0, _INF, {"2.1": ("valueContactPoint",), "2.2": ("valueContactDetail",)}),
    "expiry-date": (0, 1, {"*": ("valueDate",)}),
}
_BASE_CODES = {
    "covered": {"covered", "not-covered", "conditional"},
    "pa-needed": {"no-auth", "auth-needed", "satisfied", "performpa", "conditional"},
    "doc-needed": {"clinical", "admin", "patient", "conditional"},
    "doc-purpose": {"withpa", "withclaim", "withorder", "retain-doc", "OTH"},
    "info-needed": {"performer", "location", "timeframe", "contract-window", "OTH"},
}
# Required bindings; 2.2 adds indeterminate (covered, pa-needed, doc-needed) and detail-code.
CODES = {
    "2.1": _BASE_CODES,
    "2.2": {**_BASE_CODES,
            "covered": _BASE_CODES["covered"] | {"indeterminate"},
            "pa-needed": _BASE_CODES["pa-needed"] | {"indeterminate"},
            "doc-needed": _BASE_CODES["doc-needed"] | {"indeterminate"},
            "info-needed": _BASE_CODES["info-needed"] | {"detail-code"}},
}
# coverageAssertionReasons (extensible): a reason coded outside it needs text (q7).
REASON_CODES = {
    "2.1": {"gold-card", "detail-code"},
    "2.2": {"gold-card", "no-member-found", "no-active-coverage", "coverage-not-found",
            "auth-out-network", "technical"},
}
DETAIL_CATEGORIES = {"cat-limitation", "cat-decisional", "cat-other"}
_DETAIL_VALUES = ("valueBoolean", "valueString", "valueUrl", "valueQuantity", "valuePeriod")
_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")


def coverage_extensions(resource: Any) -> list[dict[str, Any]]:
    if not isinstance(resource, dict):
        return []
    return [e for e in resource.get("extension") or ()
            if isinstance(e, dict) and e.get("url") == COVERAGE_INFORMATION]


def coverage_actions(response: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The systemActions that carry coverage information."""
    for i, action in enumerate(response.get("systemActions") or ()):
        if coverage_extensions(action.get("resource")):
            yield f"$.systemActions[{i}]", action


def _parts(extension: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in extension.get("extension") or () if isinstance(s, dict)]


def _values(subs: list[dict[str, Any]], url: str) -> list[Any]:
    """The value[x] of every sub-extension with this url."""
    out = []
    for sub in subs:
        if sub.get("url") == url:
            out += [v for k, v in sub.items() if k.startswith("value")]
    return out


def _one(subs: list[dict[str, Any]], url: str) -> Any:
    values = _values(subs, url)
    return values[0] if len(values) == 1 else None


def invariant_problems(subs: list[dict[str, Any]], version: str) -> list[str]:
    """q1-q9 of ext-coverage-information (q8, q9 and the wider q4 are 2.2 only)."""
    covered = _one(subs, "covered")
    pa = _one(subs, "pa-needed")
    docs = _values(subs, "doc-needed")
    purposes = _values(subs, "doc-purpose")
    infos = _values(subs, "info-needed")
    reasons = _values(subs, "reason")
    failed = []
    if _values(subs, "questionnaire") and not docs:
        failed.append("q1: questionnaire needs doc-needed")
    if covered == "not-covered" and pa is not None:
        failed.append("q2: a not-covered assertion must not carry pa-needed")
    if "conditional" in (covered, pa, *docs) and not infos:
        failed.append("q3: a conditional assertion needs info-needed")
    no_pa = pa == "satisfied" or (version == "2.2" and
                                  (pa == "no-auth" or covered == "not-covered"))
    if no_pa and "withpa" in purposes:
        failed.append("q4: doc-purpose withpa where no prior authorization applies")
    if (pa == "satisfied") != bool(_values(subs, "satisfied-pa-id")):
        failed.append("q5: satisfied-pa-id is present exactly when pa-needed is satisfied")
    if "OTH" in infos and not reasons:
        failed.append("q6: info-needed OTH needs a reason")
    for reason in reasons:
        codings = reason.get("coding") or () if isinstance(reason, dict) else ()
        in_set = any(c.get("system") in (TEMP, COVERAGE_INFORMATION_CODES)
                     and c.get("code") in REASON_CODES[version] for c in codings)
        if not in_set and not (isinstance(reason, dict) and reason.get("text")):
            failed.append("q7: a reason not coded from coverageAssertionReasons needs text")
    if version == "2.2":
        if purposes and not reasons:
            failed.append("q8: doc-purpose needs a reason")
        if "indeterminate" in (covered, pa, *docs) and not reasons:
            failed.append("q9: an indeterminate assertion needs a reason")
    return failed


def _value_problems(url: str, key: str, value: Any) -> list[str]:
    if key in ("valueCode", "valueString", "valueCanonical"):
        ok = isinstance(value, str) and value.strip() != ""
    elif key == "valueDate":
        ok = isinstance(value, str) and _DATE.match(value) is not None
    elif key == "valueReference":
        ok = isinstance(value, dict) and isinstance(value.get("reference"), str)
    elif key == "valueCoding":
        ok = isinstance(value, dict) and all(isinstance(value.get(k), str)
                                             for k in ("system", "code"))
    elif key == "valueCodeableConcept":
        ok = isinstance(value, dict) and bool(value.get("coding") or value.get("text"))
    else:
        ok = isinstance(value, dict) and bool(value)
    return [] if ok else [f"{url}: {key} {value!r} is not valid"]


def _detail_problems(detail: dict[str, Any], version: str) -> list[str]:
    if any(k.startswith("value") for k in detail):
        return ["detail: is a complex extension and has no value[x]"]
    parts = _parts(detail)
    urls = [p.get("url") for p in parts]
    problems = [f"detail: unknown part {u!r}" for u in urls
                if u not in ("category", "code", "value", "qualification")]
    wanted = {"code": (1, 1), "value": (1, 1), "qualification": (0, 1),
              "category": (1, 1) if version == "2.2" else (0, 0)}
    for url, (low, high) in wanted.items():
        if not low <= urls.count(url) <= high:
            problems.append(f"detail.{url}: {urls.count(url)} present, needs {low}..{high}"
                            + (" (category exists only in 2.2)" if url == "category" else ""))
    category = _one(parts, "category")
    if category is not None and category not in DETAIL_CATEGORIES:
        problems.append(f"detail.category: {category!r} is not a detail category")
    for part in parts:
        keys = [k for k in part if k.startswith("value")]
        if part.get("url") == "value" and (len(keys) != 1 or keys[0] not in _DETAIL_VALUES):
            problems.append(f"detail.value: needs one of {', '.join(_DETAIL_VALUES)}")
    return problems


def extension_problems(extension: dict[str, Any], version: str) -> list[str]:
    """One ext-coverage-information repetition: its parts, their cardinality, value types and
    codes, and the invariants."""
    if any(k.startswith("value") for k in extension):
        return ["ext-coverage-information is a complex extension and has no value[x]"]
    subs = _parts(extension)
    problems = []
    urls = [s.get("url") for s in subs]
    problems += [f"unknown sub-extension {u!r}" for u in urls if u not in _SUB]
    for url, (low, high, by_version) in _SUB.items():
        n = urls.count(url)
        if not low <= n <= high:
            problems.append(f"{url}: {n} present, needs {low}..{high:g}")
        allowed = by_version.get(version, by_version.get("*", ()))
        for sub in (s for s in subs if s.get("url") == url):
            keys = [k for k in sub if k.startswith("value")]
            if url == "detail":
                problems += _detail_problems(sub, version)
            elif len(keys) != 1 or keys[0] not in allowed or "extension" in sub:
                problems.append(f"{url}: needs exactly one of {allowed}, has {keys}")
            else:
                problems += _value_problems(url, keys[0], sub[keys[0]])
                codes = CODES[version].get(url)
                if codes is not None and sub[keys[0]] not in codes:
                    problems.append(f"{url}: {sub[keys[0]]!r} is not one of "
                                    f"{' | '.join(sorted(codes))} (CRD {version})")
    return problems + invariant_problems(subs, version)


def resource_problems(resource: Any) -> list[str]:
    """The updated request is a valid FHIR R4 resource (fhir.resources R4B models)."""
    if not isinstance(resource, dict) or resource.get("resourceType") not in CONTEXTS:
        kind = resource.get("resourceType") if isinstance(resource, dict) else resource
        return [f"resource: {kind!r} cannot carry coverage information"]
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError as exc:
        return [f"resource: not a valid R4 {resource['resourceType']}: "
                f"{err['loc']}: {err['msg']}" for err in exc.errors()]
    return []


def coverage_information_problems(action: dict[str, Any], version: str = "2.2") -> list[str]:
    """What any CRD server's coverage-information systemAction must satisfy."""
    problems = []
    if action.get("type") != "update":
        problems.append(f"type: a coverage-information action is an update, not "
                        f"{action.get('type')!r}")
    resource = action.get("resource")
    problems += resource_problems(resource)
    extensions = coverage_extensions(resource)
    if not extensions:
        problems.append("resource: carries no ext-coverage-information")
    by_coverage: dict[str, set[Any]] = {}
    for i, ext in enumerate(extensions):
        problems += [f"coverage-information[{i}].{p}" for p in extension_problems(ext, version)]
        subs = _parts(ext)
        coverage = _one(subs, "coverage")
        ref = coverage.get("reference") if isinstance(coverage, dict) else None
        by_coverage.setdefault(str(ref), set()).add(_one(subs, "coverage-assertion-id"))
    # §resp-32: distinct coverage-assertion-ids for different coverages; 2.1 §resp-33: one id
    # per coverage (2.2 lets repetitions for the same coverage differ).
    groups = list(by_coverage.values())
    if version == "2.1" and any(len(g) > 1 for g in groups):
        problems.append("coverage-assertion-id: repetitions for one coverage must share it (2.1)")
    if len(groups) > 1 and set.intersection(*groups):
        problems.append("coverage-assertion-id: shared across different coverages")
    return problems


# -- our answer to one request -----------------------------------------------------------------

def answer_problems(action: dict[str, Any], request: dict[str, Any],
                    version: str = "2.2") -> list[str]:
    """``coverage_information_problems`` of our action, less the resource problems the order
    already had as the EHR sent it: the update echoes the order unchanged (§resp-37), the EHR's
    local elements included, so those are the EHR's, not ours."""
    resource = action.get("resource") or {}
    sent = draft_order(request, resource.get("resourceType"), resource.get("id"))
    theirs = set(resource_problems(sent)) if sent is not None else set()
    return [p for p in coverage_information_problems(action, version) if p not in theirs]


def _without_coverage_information(resource: dict[str, Any]) -> dict[str, Any]:
    copy = {k: v for k, v in resource.items() if k != "extension"}
    kept = [e for e in resource.get("extension") or () if e.get("url") != COVERAGE_INFORMATION]
    if kept:
        copy["extension"] = kept
    return copy


def draft_order(request: dict[str, Any], resource_type: Any, rid: Any) -> dict[str, Any] | None:
    """The order as the request carried it: a draft order, an appointment being booked, or
    (order-dispatch, and the request an appointment is based on) a prefetched resource."""
    context = request["context"]
    bundles = [context.get("draftOrders") or {}, context.get("appointments") or {}]
    candidates = [e.get("resource") or {} for b in bundles for e in b.get("entry") or ()]
    for candidate in [*candidates, *prefetched(request)]:
        if candidate.get("resourceType") == resource_type and candidate.get("id") == rid:
            return dict(candidate)
    return None


def prefetched(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every resource in the request's prefetch (bare or inside a Bundle)."""
    for value in (request.get("prefetch") or {}).values():
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            yield from (e["resource"] for e in value.get("entry") or () if "resource" in e)
        else:
            yield value


def ordered_cpt_codes(order: dict[str, Any]) -> set[str]:
    code = order.get("code") or {}
    concepts = [code] + [e.get("valueCodeableConcept") or {} for e in code.get("extension") or ()
                         if e.get("url") == BILLING_OPTIONS]
    concepts += order.get("serviceType") or []  # an Appointment coded for what is booked
    return {c["code"] for concept in concepts for c in concept.get("coding") or ()
            if c.get("system") in (CPT, CPT_OID) and "code" in c}


def as_fhir_reads_it(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as FHIR JSON means it: an empty array, an empty object or a null is the same
    as absent (FHIR JSON forbids them). A server echoing the draft order (CRD §resp-37) may drop
    those and change nothing else; the EHR's own local elements go back to it untouched."""
    def prune(value: Any) -> Any:
        if isinstance(value, dict):
            items = {k: prune(v) for k, v in value.items()}
            return {k: v for k, v in items.items() if v not in (None, [], {})}
        if isinstance(value, list):
            return [v for v in map(prune, value) if v not in (None, [], {})]
        return value
    return dict(prune(resource))


def request_problems(action: dict[str, Any], request: dict[str, Any],
                     today: Collection[str], *, matched: bool = True,
                     queried: Collection[str] = ()) -> list[str]:
    """Our coverage-information action for one request: an update of that request's draft order
    (same type and id, otherwise identical: CRD §resp-37) with one assertion citing a Coverage
    from the prefetch (or ``queried`` from the EHR), today's date and, for an order a policy
    ``matched``, the CPT code that was ordered (an unmatched order has no billing code)."""
    resource = action.get("resource") or {}
    order = draft_order(request, resource.get("resourceType"), resource.get("id"))
    if order is None:
        return [f"resource: {resource.get('resourceType')}/{resource.get('id')} is not a draft "
                "order of the request"]
    problems = []
    order = as_fhir_reads_it(order)
    if _without_coverage_information(resource) != _without_coverage_information(order):
        changed = sorted(k for k in set(resource) | set(order) if k != "extension"
                         and resource.get(k) != order.get(k))
        problems.append(f"resource: changes the draft order beyond coverage information "
                        f"(changed: {changed or ['extension']})")
    extensions = coverage_extensions(resource)
    if len(extensions) != 1:
        problems.append(f"resource: {len(extensions)} coverage-information extensions, "
                        "expected exactly 1")
    coverages = {f"Coverage/{r.get('id')}" for r in prefetched(request)
                 if r.get("resourceType") == "Coverage"} | set(queried)
    ordered = ordered_cpt_codes(order)
    for ext in extensions:
        subs = _parts(ext)
        coverage = _one(subs, "coverage") or {}
        if coverage.get("reference") not in coverages:
            problems.append(f"coverage: {coverage.get('reference')!r} is not a Coverage of the "
                            f"request's prefetch {sorted(coverages)}")
        if _one(subs, "date") not in today:
            problems.append(f"date: {_one(subs, 'date')!r} is not today {sorted(today)}")
        codes = _values(subs, "billingCode")
        if not matched:
            if codes:
                problems.append(f"billingCode: {codes} on an order no policy matched")
        elif not codes or any(c.get("system") != CPT or c.get("code") not in ordered
                              for c in codes):
            problems.append(f"billingCode: {codes} must name the ordered CPT code(s) "
                            f"{sorted(ordered)}")
    return problems
