"""The orders a hook call asks about, and where each CRD request type carries its codes (pure).

``ORDER_TYPES`` is the one table of order types: adding a type is adding a row. Each row names
the elements holding the CodeableConcepts a policy may match (Da Vinci CRD 2.2 profiles:
profile-servicerequest ``code``, profile-devicerequest ``codeCodeableConcept``, ...), the
references whose target's codes count too (a DeviceRequest's Device, a MedicationRequest's
Medication), and, for an Appointment, the request it is ``basedOn``: CRD 2.2 (hooks.md,
appointment-book) puts the coverage information on that request rather than on the Appointment.

Reading codes with a dict walk costs microseconds; full R4B validation (~0.6 ms per order) is
kept for the orders a policy actually matches (see ``fhir.validate``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar, overload

from cds_service.fhir.coding import codings, elements

# Da Vinci CRD 2.2: candidate billing codes on a clinically coded order (on ServiceRequest.code).
BILLING_OPTIONS = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options"
# R4 CommunicationRequest.payload has no coded content; CRD 2.2 profile-communicationrequest uses
# the R5 cross-version extension for it (the IG's CRDServiceRequest3 example).
R5_PAYLOAD_CONTENT = ("http://hl7.org/fhir/5.0/StructureDefinition/"
                      "extension-CommunicationRequest.payload.content[x]")
# R4 Appointment.basedOn may only reference a ServiceRequest; CRD 2.2 lets it name a DeviceRequest
# or MedicationRequest through this extension on the Reference (CRDServices.json prefetch).
ALTERNATE_REFERENCE = "http://hl7.org/fhir/StructureDefinition/alternate-reference"


@dataclass(frozen=True)
class Ext:
    """A path step selecting the ``value[x]`` holders among an element's extensions by URL."""

    url: str


Step = str | Ext
Path = tuple[Step, ...]


@dataclass(frozen=True)
class OrderType:
    codes: tuple[Path, ...]
    """Paths to the CodeableConcepts naming what is ordered (repeating elements are walked)."""
    name: Path = ()
    """Where a clinician's name for the order is, when not the first code path."""
    references: tuple[tuple[Path, Path], ...] = ()
    """(reference element, code path in its target): codes that live on a referenced resource."""
    fulfils: tuple[Path, ...] = ()
    """References to the requests this resource carries out: each of them receives the coverage
    information, and its codes count for matching too."""
    patient: Path = ("subject",)
    """Where the order names the patient it is for."""
    dates: tuple[Path, ...] = ()
    """Where the order says when the service is to happen, first found wins: the date of
    service, which decides the version of a policy in force (payers apply what is in force on the
    date of service, e.g. Anthem's medical policies: "The member's contract benefits in effect on
    the date that services are rendered must be used"); the date the order was written when it
    names none."""


def _code(element: str) -> tuple[Path, ...]:
    return ((element,), (element, Ext(BILLING_OPTIONS), "valueCodeableConcept"))


# R4 occurrence[x] of a request (dateTime | Period | Timing), then when it was authored.
_OCCURRENCE: tuple[Path, ...] = (
    ("occurrenceDateTime",), ("occurrencePeriod", "start"), ("occurrenceTiming", "event"),
    ("occurrenceTiming", "repeat", "boundsPeriod", "start"), ("authoredOn",))


ORDER_TYPES: dict[str, OrderType] = {
    "ServiceRequest": OrderType(codes=_code("code"), dates=_OCCURRENCE),
    "DeviceRequest": OrderType(codes=_code("codeCodeableConcept"),
                               references=((("codeReference",), ("type",)),), dates=_OCCURRENCE),
    # A prescription has no occurrence: the start of the period its dispenses are allowed in.
    "MedicationRequest": OrderType(codes=(("medicationCodeableConcept",),),
                                   references=((("medicationReference",), ("code",)),),
                                   dates=(("dispenseRequest", "validityPeriod", "start"),
                                          ("authoredOn",))),
    "NutritionOrder": OrderType(codes=(("oralDiet", "type"), ("supplement", "productType"),
                                       ("enteralFormula", "baseFormulaType"),
                                       ("enteralFormula", "additiveType")),
                                patient=("patient",), dates=(("dateTime",),)),
    "VisionPrescription": OrderType(codes=(("lensSpecification", "product"),),
                                    patient=("patient",), dates=(("dateWritten",),)),
    "CommunicationRequest": OrderType(
        codes=(("payload", Ext(R5_PAYLOAD_CONTENT), "valueCodeableConcept"), ("category",)),
        dates=_OCCURRENCE),
    # The appointment's own time is the date of service of the request it is booked for.
    "Appointment": OrderType(codes=(("serviceType",), ("appointmentType",)),
                             patient=("participant", "actor"),
                             fulfils=(("basedOn",),
                                      ("basedOn", Ext(ALTERNATE_REFERENCE), "valueReference")),
                             dates=(("start",), ("requestedPeriod", "start"), ("created",))),
}


def walk(value: Any, path: Path) -> list[Any]:
    """Every value at ``path`` under ``value``, flattening repeating elements; wrong shapes
    (a string where an object belongs) have no values rather than raising. Level by level, in
    document order: read for every order of every call, where a recursive generator cost
    several times as much."""
    level = value if isinstance(value, list) else [value]
    for step in path:
        below: list[Any] = []
        for item in level:
            if not isinstance(item, dict):
                continue
            if isinstance(step, Ext):
                below += [ext for ext in elements(item.get("extension"))
                          if isinstance(ext, dict) and ext.get("url") == step.url]
                continue
            child = item.get(step)
            if isinstance(child, list):
                below += child
            elif child is not None:
                below.append(child)
        if not below:
            return below
        level = below
    return [v for v in level if v is not None]


def order_type(resource: dict[str, Any]) -> OrderType | None:
    return ORDER_TYPES.get(str(resource.get("resourceType")))


def code_concepts(resource: dict[str, Any]) -> list[Any]:
    """The values at the order type's code paths: the CodeableConcepts naming what the order
    asks for (read once per order for its codes and its name)."""
    row = order_type(resource)
    return [concept for path in row.codes for concept in walk(resource, path)] if row else []


def order_codes(resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(system, code) of every coding naming what the order asks for."""
    for concept in code_concepts(resource):
        yield from codings(concept)


def referenced(resource: dict[str, Any]) -> Iterator[tuple[str, Path]]:
    """(reference, code path in the target) of the order's code-bearing references."""
    row = order_type(resource)
    for ref_path, code_path in row.references if row else ():
        for ref in walk(resource, ref_path):
            if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
                yield ref["reference"], code_path


def fulfilled_requests(resource: dict[str, Any]) -> list[str]:
    """References to the requests this resource carries out (an Appointment's ``basedOn``)."""
    row = order_type(resource)
    return [ref["reference"] for path in (row.fulfils if row else ())
            for ref in walk(resource, path)
            if isinstance(ref, dict) and isinstance(ref.get("reference"), str)]


def request_reference(reference: str) -> tuple[str, str] | None:
    """(type, ``Type/id``) of a literal reference to a CRD request, relative or absolute, any
    ``_history`` version dropped; None for anything else (a local ``#id``, a search, a Patient)."""
    match = _REQUEST_REFERENCE.search(reference)
    if match is None or match.group(1) not in ORDER_TYPES:
        return None
    return match.group(1), f"{match.group(1)}/{match.group(2)}"


_REQUEST_REFERENCE = re.compile(
    r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?\Z")


def other_patients(resource: dict[str, Any], patient_id: str) -> list[str]:
    """References to a Patient other than ``patient_id`` where the order names its patient."""
    row = order_type(resource)
    found = []
    for ref in walk(resource, row.patient) if row else ():
        reference = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(reference, str) and "/Patient/" in f"/{reference}" \
                and reference.rstrip("/").rsplit("/", 1)[-1] != patient_id:
            found.append(reference)
    return found


PATIENT_ELEMENTS = ("subject", "patient", "beneficiary")
"""Where a resource that is not an order names its patient (Condition, Observation,
Procedure: subject; AllergyIntolerance, Encounter's kin: patient; Coverage: beneficiary)."""


def another_patients(resource: dict[str, Any], patient_id: str) -> list[str]:
    """References to a Patient other than ``patient_id`` where any resource names its patient:
    an order type's own element, else ``PATIENT_ELEMENTS``."""
    if order_type(resource) is not None:
        return other_patients(resource, patient_id)
    found = []
    for name in PATIENT_ELEMENTS:
        value = resource.get(name)
        for ref in value if isinstance(value, list) else [value]:
            reference = ref.get("reference") if isinstance(ref, dict) else None
            if isinstance(reference, str) and "/Patient/" in f"/{reference}" \
                    and reference.rstrip("/").rsplit("/", 1)[-1] != patient_id:
                found.append(reference)
    return found


def service_date(resource: dict[str, Any]) -> date | None:
    """The first readable date at the order type's ``dates`` paths. A partial FHIR date (2027,
    2027-03) stands for its first day; a time and zone are dropped (the date as written where the
    service is given); a value that is no FHIR date is passed over."""
    row = order_type(resource)
    for path in row.dates if row else ():
        for value in walk(resource, path):
            found = _FHIR_DATE.match(value) if isinstance(value, str) else None
            if found is None:
                continue
            year, month, day = found.groups()
            try:
                return date(int(year), int(month or 1), int(day or 1))
            except ValueError:
                continue
    return None


# FHIR date / dateTime: YYYY, YYYY-MM, YYYY-MM-DD, optionally followed by a time.
_FHIR_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?(?:T|\Z)")


def describe(resource: dict[str, Any], concepts: list[Any] | None = None) -> str:
    """How a clinician knows the order: the text of its first code, else a coding's display.
    ``concepts``: ``code_concepts(resource)``, when already read."""
    row = order_type(resource)
    if concepts is None:
        concepts = code_concepts(resource)
    if row is not None and row.name:
        concepts = [*walk(resource, row.name), *concepts]
    for concept in concepts:
        if not isinstance(concept, dict):
            continue
        if isinstance(concept.get("text"), str) and concept["text"]:
            return str(concept["text"])
        for coding in elements(concept.get("coding")):
            if isinstance(coding, dict) and isinstance(coding.get("display"), str) \
                    and coding["display"]:
                return str(coding["display"])
    return str(resource.get("resourceType"))


T = TypeVar("T")


class _once(Generic[T]):
    """``functools.cached_property`` without its lock: Python 3.11's takes an RLock on every
    first read (removed in 3.12 as a bottleneck, CPython gh-87634), and each order's few
    properties cost more to reach through it than to compute. An order is read by one task."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _once[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...

    def __get__(self, instance: object | None, owner: type) -> _once[T] | T:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


@dataclass(frozen=True)
class Order:
    """One order in scope: ``resource`` receives the coverage information; ``via`` is the
    resource the hook named when that differs (an Appointment booked for a ServiceRequest)."""

    index: int
    """Position in the hook's list of orders, for records and stable ordering."""
    resource: dict[str, Any]
    path: str
    """Where the order is in the request, for error messages (a JSON path, or a reference)."""
    via: dict[str, Any] | None = None
    unread: tuple[str, ...] = ()
    """References the order names what it asks for by (a request an Appointment is booked for,
    a Device, a Medication) that could be neither found in the request nor read from the EHR."""

    @property
    def resource_type(self) -> str:
        return str(self.resource["resourceType"])

    @_once
    def id(self) -> str | None:
        value = self.resource.get("id")
        return value if isinstance(value, str) and value else None

    @_once
    def reference(self) -> str | None:
        return f"{self.resource_type}/{self.id}" if self.id else None

    @property
    def via_reference(self) -> str | None:
        return Order(self.index, self.via, self.path).reference if self.via else None

    @property
    def drafted(self) -> Order:
        """The resource the hook's user is drafting: the Appointment being booked, else the
        order itself."""
        return Order(self.index, self.via, self.path) if self.via else self

    def codes(self) -> list[tuple[str, str]]:
        """The order's codes, then those of the resource it was reached through."""
        return list(self._codes)

    @_once
    def _concepts(self) -> list[Any]:
        # Read for the codes and the name: once. (An Order is never changed, only replaced, and
        # the resources it holds are the request's, read-only.)
        return code_concepts(self.resource)

    @_once
    def _codes(self) -> tuple[tuple[str, str], ...]:
        # Read for matching, the record and the card: once.
        found = [pair for concept in self._concepts for pair in codings(concept)]
        if self.via is not None:
            found += order_codes(self.via)
        return tuple(dict.fromkeys(found))

    def describe(self) -> str:
        return self._description

    @property
    def service_date(self) -> date | None:
        """When the service is to happen: the appointment's time when the order was reached
        through one, else the order's own date (``OrderType.dates``)."""
        return (service_date(self.via) if self.via is not None else None) \
            or service_date(self.resource)

    @_once
    def _description(self) -> str:
        return describe(self.resource, self._concepts)
