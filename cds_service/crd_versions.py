"""Da Vinci CRD versions as rows: everything that differs on the wire between the CRD versions a
client may speak (2.0.1, 2.1, 2.2), in one table. Adding 2.3 is adding a row; nothing else in the
service branches on a version.

Sources (HL7/davinci-crd, read at the tags): 2.0.1 = 99bc2f11, 2.1.0 = 7f5bae70, 2.2.1 = 2bfabc15.
- input/fsh/extensions/CoverageInformation.fsh: the coverage-information elements, their
  cardinalities and value types, and invariants crd-ci-q1..q9 (q1-q5 in 2.0.1, q1-q7 in 2.1,
  q1-q9 in 2.2);
- input/fsh/valuesets/CoverageInformationValuesets.fsh and codesystems/CRDTempCodes.fsh: the
  codes of covered / pa-needed / doc-needed / info-needed (2.2.1 adds ``indeterminate`` and
  info-needed ``detail-code``; 2.0.1 has doc-needed ``both`` where 2.1 has ``patient``);
- input/fsh/valuesets/CRDCoverageDetailCodes.fsh: detail codes (2.0.1 has no ``policy-link``, and
  no ``url`` detail value; 2.1 codes it in the IG's temp system; 2.2 binds the THO
  crd-coverage-detail system, display "Policy Link", ValueSet coverageDetailNew);
- card topics: the temp code system until 2.1, THO cdshooks-card-type from 2.2 (cards.md);
- where an appointment's assertion goes: 2.0.1 input/fsh/profiles/Appointment.fsh gives the one
  Appointment profile the Coverage-Information slice (and the Inferno 2.0.1 suite looks for it on
  the Appointment); 2.1.0 splits CRDAppointmentWithOrder (no slice: the basedOn request carries
  it) from CRDAppointmentNoOrder; 2.2.1 cards.md says so in words ("if an Appointment is
  'basedOn' a ServiceRequest, the system action ... will be against the ServiceRequest");
- order-dispatch context: 2.0.1 hooks.md uses the 2023 ballot hook, context ``order`` (one
  reference; the Inferno 2.0.1 presets send it); 2.1 and 2.2 use ``dispatchedOrders``.
- discovery names versions by major.minor only (2.2.1 deviations.md "CRD Version declaration":
  "i.e. 2.0, not 2.0.0 or 2.0.1").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

TEMP = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
THO_CARD_TYPE = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
THO_COVERAGE_DETAIL = "http://terminology.hl7.org/CodeSystem/crd-coverage-detail"

_COVERED = frozenset({"covered", "not-covered", "conditional"})
_PA = frozenset({"no-auth", "auth-needed", "satisfied", "performpa", "conditional"})
_DOC_PURPOSE = frozenset({"withpa", "withclaim", "withorder", "retain-doc", "OTH"})
_INFO = frozenset({"performer", "location", "timeframe", "contract-window", "OTH"})
_INDETERMINATE = frozenset({"indeterminate"})


@dataclass(frozen=True)
class DetailCode:
    """How a version codes one coverage-information ``detail``."""

    system: str
    code: str
    display: str | None
    value: str
    """The ``value[x]`` key the detail's value goes in."""


@dataclass(frozen=True)
class CrdVersion:
    name: str
    """The release, as the IG numbers it."""
    declared: str
    """major.minor: what discovery lists and ``requestedVersion`` names."""
    card_type_system: str
    covered: frozenset[str]
    pa_needed: frozenset[str]
    doc_needed: frozenset[str]
    doc_purpose: frozenset[str]
    info_needed: frozenset[str]
    older_codes: dict[str, str | None]
    """Codes of the newest vocabulary (what the decision core speaks) this version lacks, and the
    code it uses instead (None: left out)."""
    doc_needed_max: int | None
    """None: unbounded."""
    value_types: dict[str, tuple[str, ...]]
    """Allowed ``value[x]`` of the sub-extensions whose type differs between versions."""
    elements: frozenset[str]
    """The coverage-information sub-extensions this version defines."""
    detail_category: bool
    """``detail.category`` (1..1 from 2.2; absent before)."""
    details: dict[str, DetailCode]
    """Detail codes this version can say, by our name for them."""
    invariants: tuple[str, ...]
    """The crd-ci invariants the extension obeys in this version."""
    pa_needed_unless_not_covered: bool
    """2.0.1 crd-ci-q2 reads "covered != not-covered implies pa-needed exists" (2.1 turned it
    into "not-covered implies no pa-needed")."""
    appointment_assertion: Literal["appointment", "request"]
    """Which resource an appointment-book assertion updates when the Appointment is basedOn a
    request: the Appointment itself, or the request."""
    context_aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per hook: context fields this version names differently -> our (newest) name."""

    def say(self, code: str) -> str | None:
        """A code of the newest vocabulary (what the decision core speaks: covered, pa-needed,
        doc-needed, info-needed values) in this version's, or None when it has no equal."""
        return self.older_codes.get(code, code)


_ELEMENTS_201 = frozenset({
    "coverage", "covered", "pa-needed", "doc-needed", "doc-purpose", "info-needed",
    "billingCode", "reason", "detail", "dependency", "questionnaire", "response", "date",
    "coverage-assertion-id", "satisfied-pa-id", "contact"})
# 2.1.0 preview: FHIR-46460 removed 'response', FHIR-43182 added 'expiry-date'.
_ELEMENTS_21 = (_ELEMENTS_201 - {"response"}) | {"expiry-date"}

# The decision core speaks 2.2: indeterminate has no equal before 2.2. The closest is
# ``conditional`` ("Decision cannot be made without more information", CRDTempCodes 2.0.1 and
# 2.1.0), with info-needed OTH and the reason saying what is missing (2.1 crd-ci-q3, q6); 2.2's
# info-needed ``detail-code`` becomes OTH for the same reason.
_BEFORE_22: dict[str, str | None] = {"indeterminate": "conditional", "detail-code": "OTH"}

ROWS: tuple[CrdVersion, ...] = (
    CrdVersion(
        name="2.0.1", declared="2.0", card_type_system=TEMP,
        covered=_COVERED, pa_needed=_PA,
        doc_needed=frozenset({"clinical", "admin", "both", "conditional"}),
        doc_purpose=_DOC_PURPOSE, info_needed=_INFO,
        # 2.0.1 has no 'patient' documentation code; 'both' is clinical + admin, not patient.
        older_codes={**_BEFORE_22, "patient": None},
        doc_needed_max=1,
        value_types={"contact": ("valueContactPoint",),
                     "detail.value": ("valueBoolean", "valueString", "valueQuantity",
                                      "valuePeriod")},
        elements=_ELEMENTS_201, detail_category=False,
        # Neither policy-link / instructions nor a url value exist in 2.0.1
        # (CRDCoverageDetailCodes.fsh; CoverageInformation.fsh "value[x] only boolean or string
        # or SimpleQuantity or Period"): a 2.0.1 client gets the policy link on the card only.
        details={},
        invariants=("q1", "q2", "q3", "q4", "q5"),
        pa_needed_unless_not_covered=True,
        appointment_assertion="appointment",
        context_aliases={"order-dispatch": {"order": "dispatchedOrders"}},
    ),
    CrdVersion(
        name="2.1", declared="2.1", card_type_system=TEMP,
        covered=_COVERED, pa_needed=_PA,
        doc_needed=frozenset({"clinical", "admin", "patient", "conditional"}),
        doc_purpose=_DOC_PURPOSE, info_needed=_INFO,
        older_codes=_BEFORE_22,
        doc_needed_max=None,
        value_types={"contact": ("valueContactPoint",),
                     "detail.value": ("valueBoolean", "valueString", "valueUrl", "valueQuantity",
                                      "valuePeriod")},
        elements=_ELEMENTS_21, detail_category=False,
        details={"policy-link": DetailCode(TEMP, "policy-link", "Policy Link", "valueUrl"),
                 "instructions": DetailCode(TEMP, "instructions", "Instructions", "valueString")},
        invariants=("q1", "q2", "q3", "q4", "q5", "q6", "q7"),
        pa_needed_unless_not_covered=False,
        appointment_assertion="request",
    ),
    CrdVersion(
        name="2.2", declared="2.2", card_type_system=THO_CARD_TYPE,
        covered=_COVERED | _INDETERMINATE, pa_needed=_PA | _INDETERMINATE,
        doc_needed=frozenset({"clinical", "admin", "patient", "conditional", "indeterminate"}),
        doc_purpose=_DOC_PURPOSE, info_needed=_INFO | {"detail-code"},
        older_codes={},
        doc_needed_max=None,
        value_types={"contact": ("valueContactDetail",),
                     "detail.value": ("valueBoolean", "valueString", "valueUrl", "valueQuantity",
                                      "valuePeriod")},
        elements=_ELEMENTS_21, detail_category=True,
        # THO crd-coverage-detail (ValueSet coverageDetailNew, 2.2.1): policy-link "Policy Link"
        # (category cat-other), instructions "Instructions".
        details={"policy-link": DetailCode(THO_COVERAGE_DETAIL, "policy-link", "Policy Link",
                                           "valueUrl"),
                 "instructions": DetailCode(THO_COVERAGE_DETAIL, "instructions", "Instructions",
                                            "valueString")},
        invariants=("q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"),
        pa_needed_unless_not_covered=False,
        appointment_assertion="request",
    ),
)
VERSIONS = {row.name: row for row in ROWS}
BY_DECLARED = {row.declared: row for row in ROWS}
NEWEST = ROWS[-1]
DEFAULT = VERSIONS["2.0.1"]
"""For a client that names no version (see ``choose``)."""


def declared_versions() -> list[str]:
    """Discovery's ``davinci-crd.version``: every version we answer (CRD 2.2 §dev-2)."""
    return [row.declared for row in ROWS]


def named(value: object) -> CrdVersion | None:
    """The row a version string names: major.minor ("2.0"), or a full release ("2.0.1",
    "2.2.1": the patch number never changes the wire, deviations.md)."""
    if not isinstance(value, str):
        return None
    parts = value.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return None
    return BY_DECLARED.get(f"{int(parts[0])}.{int(parts[1])}")


def choose(requested: object, client_version: str | None) -> CrdVersion:
    """The version a call is answered in: the one the client requested (CRD 2.2 §dev-3), else
    the one its trust-file entry names, else ``DEFAULT``.

    CRD 2.2 deviations.md makes ``requestedVersion`` a SHALL for clients of a service declaring
    several versions, and says nothing of a request without it. Only 2.2 clients know the
    extension (it is new in 2.2, FHIR-53048), so a request without it comes from a client built
    to 2.0.1 or 2.1; of those, 2.0.1 is what the field runs and what the Inferno CRD test kit
    certifies (README "CRD versions")."""
    return named(requested) or named(client_version) or DEFAULT


def canonical_context(hook: str, context: dict[str, Any]) -> dict[str, Any]:
    """The hook context under our field names: a field an older version names differently (2.0.1
    order-dispatch ``order``, one reference) is read as its newer equal (``dispatchedOrders``,
    a list), whatever version the call is answered in, so that a client that names no version
    is understood in any of them; a context carrying both keeps the newer."""
    renames = [(old, new) for row in ROWS
               for old, new in row.context_aliases.get(hook, {}).items()
               if old in context and new not in context]
    if not renames:
        return context  # the usual case: nothing to copy
    out = dict(context)
    for old, new in renames:
        value = out.pop(old)
        out[new] = [value] if isinstance(value, str) else value
    return out
