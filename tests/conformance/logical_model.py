"""A small checker for the FHIR Tooling IG logical models of CDS Hooks (``hl7.fhir.uv.tools``:
CDSHooksServices, CDSHooksRequest, CDSHooksResponse and the hook contexts).

It walks a StructureDefinition's elements (the snapshot when there is one, else the differential
merged with the base definitions) and checks a JSON instance for:

- cardinality (``min``/``max``) and array-vs-single shape, unknown properties, ``null``;
- JSON types of primitives (string/code/uri/url/id/uuid/markdown, boolean, integer), ``Coding``,
  ``Resource`` and ``Bundle``;
- required bindings, using the CDS Hooks 2.0 enums (the value sets are not in the folder);
- the SDs' invariants, re-implemented in Python (the checker knows every key it meets and refuses
  to load a model with an invariant or a required binding it cannot check);
- the tooling extensions that change the JSON shape: ``json-name``, ``json-property-key``,
  ``json-nullable``, ``json-empty-behavior``, ``implied-string-prefix``, ``type-specifier`` and
  ``extension-style`` (named-elements).

The models are informative and differ from the CDS Hooks 2.0 text in places; callers add the
spec's rules on top with ``Override`` (see ``cds_hooks.RESPONSE_OVERRIDES``).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

TOOLS = "http://hl7.org/fhir/tools/StructureDefinition/"
_EXT_JSON_NAME = TOOLS + "json-name"
_EXT_PROPERTY_KEY = TOOLS + "json-property-key"
_EXT_NULLABLE = TOOLS + "json-nullable"
_EXT_EMPTY = TOOLS + "json-empty-behavior"
_EXT_PREFIX = TOOLS + "implied-string-prefix"
_EXT_TYPE_SPECIFIER = TOOLS + "type-specifier"
_EXT_STYLE = TOOLS + "extension-style"

# The value sets the models bind (required strength) exist only as XML in fhir-tools-ig; these are
# the CDS Hooks 2.0 enums they stand for (§Card Attributes, §Action, §Link).
ENUMS: dict[str, frozenset[str]] = {
    "http://hl7.org/fhir/tools/ValueSet/CDSIndicator": frozenset({"info", "warning", "critical"}),
    "http://hl7.org/fhir/tools/ValueSet/CDSSelectionBehavior": frozenset({"at-most-one", "any"}),
    "http://hl7.org/fhir/tools/ValueSet/CDSActionType": frozenset({"create", "update", "delete"}),
    "http://hl7.org/fhir/tools/ValueSet/CDSLinkType": frozenset({"absolute", "smart"}),
}

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_SELECTION = re.compile(r"^[\d\w]+/[\d\w\-.]+$")
_STRINGS = {"string", "markdown", "code", "id", "uri", "url", "canonical", "uuid", "oid", "date",
            "dateTime", "instant", "base64Binary"}
_CODING_KEYS = {"system": str, "version": str, "code": str, "display": str, "userSelected": bool}


def _present(node: Any, name: str) -> bool:
    return isinstance(node, dict) and node.get(name) not in (None, "", [], {})


def _recommended(suggestions: Any) -> int:
    return sum(1 for s in suggestions or () if isinstance(s, dict) and s.get("isRecommended"))


# The invariants of the models (FHIRPath in the SDs), as Python predicates over one element's value.
INVARIANTS: dict[str, Callable[[Any], bool]] = {
    # (selectionBehavior = 'at-most-one') implies suggestions.where(isRecommended).count() <= 1
    "cds-resp-1": lambda card: not (isinstance(card, dict)
                                    and card.get("selectionBehavior") == "at-most-one"
                                    and _recommended(card.get("suggestions")) > 1),
    # (type = 'delete') implies (resourceId.exists() and resource.empty())
    "cds-resp-2": lambda action: not (isinstance(action, dict) and action.get("type") == "delete")
    or (_present(action, "resourceId") and "resource" not in action),
    # (type != 'smart') implies (appContext.empty())
    "cds-resp-3": lambda link: not isinstance(link, dict) or link.get("type") == "smart"
    or "appContext" not in link,
    # all(display.exists())  (context: each overrideReasons Coding)
    "cds-resp-4": lambda coding: _present(coding, "display"),
    # actions.all(description.exists())  (context: each suggestion)
    "cds-resp-5": lambda suggestion: not isinstance(suggestion, dict)
    or all(_present(a, "description") for a in suggestion.get("actions") or ()),
    # suggestions.exists() implies selectionBehavior.exists()
    "cds-resp-6": lambda card: not _present(card, "suggestions")
    or _present(card, "selectionBehavior"),
    # fhirAuthorization.exists() implies fhirServer.exists()
    "cds-r-1": lambda request: not _present(request, "fhirAuthorization")
    or _present(request, "fhirServer"),
    # scope.contains('Patient/') implies patient.exists()
    "cds-r-2": lambda auth: not isinstance(auth, dict)
    or "Patient/" not in str(auth.get("scope", "")) or _present(auth, "patient"),
    # value.matches('^[\\d\\w]+\\/[\\d\\w-.]+$')  (context: each selection)
    "ord-1": lambda value: isinstance(value, str) and _SELECTION.match(value) is not None,
}


@dataclass(frozen=True)
class Override:
    """A rule of the CDS Hooks 2.0 text laid over the model where the two differ."""

    min: int | None = None
    max: str | None = None
    required_property: bool = False
    """The JSON property must be present even when its array is empty (``cards``)."""
    empty_behavior: str | None = None


@dataclass(frozen=True)
class Element:
    path: str
    min: int
    max: float
    types: tuple[str, ...]
    content_reference: str | None
    binding: str | None
    json_name: str | None
    property_key: str | None
    nullable: bool
    empty_behavior: str | None
    implied_prefix: str | None
    named_elements: bool
    constraints: tuple[str, ...]
    type_specifiers: tuple[tuple[str, str], ...]
    required_property: bool = False

    @property
    def name(self) -> str:
        return self.json_name or self.path.rsplit(".", 1)[-1]


def _ext(element: Mapping[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension") or () if e.get("url") == url]


def _ext_value(element: Mapping[str, Any], url: str) -> Any:
    for ext in _ext(element, url):
        for key, value in ext.items():
            if key.startswith("value"):
                return value
    return None


def _parse(raw: Mapping[str, Any], path: str) -> Element:
    binding = raw.get("binding") or {}
    specifiers = []
    for spec in _ext(raw, _EXT_TYPE_SPECIFIER):
        parts = {e["url"]: e.get("valueString", e.get("valueCode")) for e in spec["extension"]}
        specifiers.append((str(parts["condition"]), str(parts["type"])))
    max_ = raw.get("max", "*")
    return Element(
        path=path,
        min=int(raw.get("min", 0)),
        max=math.inf if max_ == "*" else float(max_),
        types=tuple(t["code"] for t in raw.get("type") or ()),
        content_reference=raw.get("contentReference"),
        binding=binding.get("valueSet") if binding.get("strength") == "required" else None,
        json_name=_ext_value(raw, _EXT_JSON_NAME),
        property_key=_ext_value(raw, _EXT_PROPERTY_KEY),
        nullable=_ext_value(raw, _EXT_NULLABLE) is True,
        empty_behavior=_ext_value(raw, _EXT_EMPTY),
        implied_prefix=_ext_value(raw, _EXT_PREFIX),
        named_elements=_ext_value(raw, _EXT_STYLE) == "named-elements",
        constraints=tuple(c["key"] for c in raw.get("constraint") or ()),
        type_specifiers=tuple(specifiers),
    )


@dataclass
class Model:
    url: str
    root: str
    """The root element's path (the SD's name, e.g. ``CDSHooksResponse``)."""
    elements: dict[str, Element] = field(default_factory=dict)


class LogicalModels:
    """The logical models of one folder of StructureDefinitions, keyed by canonical URL."""

    def __init__(self, folder: Path) -> None:
        raw: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("structuredefinition-*.json")):
            sd = json.loads(path.read_text(encoding="utf-8"))
            if sd.get("resourceType") == "StructureDefinition" and sd.get("kind") == "logical":
                raw[sd["url"]] = sd
        if not raw:
            raise FileNotFoundError(f"no logical-model StructureDefinitions in {folder}")
        self.models: dict[str, Model] = {}
        for url in raw:
            self._load(url, raw)
        for model in self.models.values():
            for element in model.elements.values():
                unknown = [k for k in element.constraints if k not in INVARIANTS]
                if unknown:
                    raise ValueError(f"{element.path}: invariant(s) {unknown} have no Python "
                                     "equivalent in INVARIANTS; add one before checking with it")
                if element.binding and element.binding not in ENUMS:
                    raise ValueError(f"{element.path}: required binding {element.binding} has "
                                     "no enum in ENUMS; add one before checking with it")

    def _load(self, url: str, raw: dict[str, dict[str, Any]]) -> Model:
        if url in self.models:
            return self.models[url]
        sd = raw[url]
        listed = (sd.get("snapshot") or {}).get("element") or sd["differential"]["element"]
        root = listed[0]["path"].split(".")[0]
        model = Model(url, root)
        base = sd.get("baseDefinition")
        if not sd.get("snapshot") and base in raw:
            # A differential lists only what this model adds: inherit the base model's elements.
            base_model = self._load(base, raw)
            for path, element in base_model.elements.items():
                rebased = root + path[len(base_model.root):]
                model.elements[rebased] = replace(element, path=rebased)
        for item in listed:
            model.elements[item["path"]] = _parse(item, item["path"])
        self.models[url] = model
        return model

    def check(self, instance: Any, url: str,
              overrides: Mapping[str, Override] | None = None) -> list[str]:
        """Every problem found, as ``"<json path>: <message>"``; an empty list means valid."""
        return _Walk(self, instance, dict(overrides or {})).run(url)


class _Walk:
    def __init__(self, models: LogicalModels, instance: Any,
                 overrides: dict[str, Override]) -> None:
        self.models = models
        self.instance = instance
        self.overrides = overrides
        self.problems: list[str] = []

    def run(self, url: str) -> list[str]:
        model = self.models.models[url]
        root = model.elements[model.root]
        self.node(model, root, self.instance, "$")
        return self.problems

    def report(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def element(self, model: Model, path: str) -> Element:
        element = model.elements[path]
        override = self.overrides.get(path)
        if override is None:
            return element
        return replace(
            element,
            min=element.min if override.min is None else override.min,
            max=element.max if override.max is None else
            (math.inf if override.max == "*" else float(override.max)),
            required_property=override.required_property,
            empty_behavior=override.empty_behavior or element.empty_behavior)

    def children(self, model: Model, element: Element) -> list[tuple[Model, Element]]:
        """The elements one level below ``element`` (following contentReference), each with
        the model that defines it."""
        path = element.path
        if element.content_reference:
            path = element.content_reference.lstrip("#")
        prefix = path + "."
        names = [p for p in model.elements if p.startswith(prefix) and "." not in p[len(prefix):]]
        kids = {model.elements[p].name: (model, self.element(model, p)) for p in names}
        # An element typed with another logical model (e.g. CDSHooksElement) and defined inline
        # also has that model's elements (its ``extension``).
        for code in element.types:
            base = self.models.models.get(code)
            if base is not None and names:
                for p, inherited in base.elements.items():
                    if p.count(".") == 1 and inherited.name not in kids:
                        kids[inherited.name] = (base, self.element(base, p))
        return list(kids.values())

    def resolve(self, model: Model, element: Element) -> Element:
        if element.content_reference:
            target = model.elements[element.content_reference.lstrip("#")]
            return replace(target, path=target.path, min=element.min, max=element.max,
                           json_name=element.json_name, empty_behavior=element.empty_behavior,
                           required_property=element.required_property)
        return element

    # -- one value of one element ---------------------------------------------------------------

    def node(self, model: Model, element: Element, value: Any, where: str) -> None:
        definition = self.resolve(model, element)
        for key in definition.constraints:
            if not INVARIANTS[key](value):
                self.report(where, f"invariant {key} fails")
        kids = self.children(model, definition)
        if any(k.named_elements for _, k in kids):
            self.named(value, where)
        elif kids:
            self.object(kids, value, where)
        else:
            self.typed(model, definition, value, where)

    def named(self, value: Any, where: str) -> None:
        """An object whose property names are defined by extension definitions (extension-style
        named-elements, e.g. CDSHooksExtensions): any name, any non-empty value."""
        if not isinstance(value, dict) or not value:
            self.report(where, "must be a non-empty JSON object of named extensions")
            return
        for key, item in value.items():
            if item in (None, "", [], {}):
                self.report(f"{where}.{key}", "must not be null or empty")

    def typed(self, model: Model, element: Element, value: Any, where: str) -> None:
        codes = element.types
        if len(codes) != 1:
            return  # choice or untyped: nothing clear to check
        code = codes[0]
        target = self.models.models.get(code)
        if target is not None:
            for condition, concrete in element.type_specifiers:
                if self.condition(condition):
                    if concrete not in self.models.models:
                        raise KeyError(f"{element.path}: model {concrete} is not in the folder")
                    target = self.models.models[concrete]
                    break
            self.node(target, target.elements[target.root], value, where)
            return
        if code in _STRINGS:
            self.primitive(element, code, value, where)
        elif code == "boolean":
            if not isinstance(value, bool):
                self.report(where, f"must be a JSON boolean, not {type(value).__name__}")
        elif code in ("integer", "positiveInt", "unsignedInt"):
            if isinstance(value, bool) or not isinstance(value, int):
                self.report(where, f"must be a JSON integer, not {type(value).__name__}")
        elif code == "Coding":
            self.coding(value, where)
        elif code in ("Resource", "Bundle"):
            if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
                self.report(where, "must be a FHIR resource (an object with a resourceType)")
            elif code == "Bundle" and value["resourceType"] != "Bundle":
                self.report(where, "must be a FHIR Bundle")
        elif code == "Base" and not isinstance(value, dict):
            self.report(where, "must be a JSON object")

    def primitive(self, element: Element, code: str, value: Any, where: str) -> None:
        if not isinstance(value, str):
            self.report(where, f"must be a JSON string ({code}), not {type(value).__name__}")
            return
        if value == "" or value != value.strip():
            self.report(where, f"{code} must be non-empty, without surrounding whitespace")
            return
        if element.binding and value not in ENUMS[element.binding]:
            allowed = " | ".join(sorted(ENUMS[element.binding]))
            self.report(where, f"{value!r} is not one of {allowed}")
        if code == "uuid":
            bare = value
            if element.implied_prefix and bare.startswith(element.implied_prefix):
                prefix = element.implied_prefix
                self.report(where, f"must be written without the implied {prefix!r}")
                bare = bare[len(element.implied_prefix):]
            try:
                uuid.UUID(bare)
            except ValueError:
                self.report(where, f"{value!r} is not a UUID")
        elif code == "id" and not _ID.match(value):
            self.report(where, f"{value!r} is not a FHIR id")
        elif code in ("uri", "url", "canonical") and " " in value:
            self.report(where, f"{value!r} is not a {code} (contains spaces)")
        elif code == "date" and not _DATE.match(value):
            self.report(where, f"{value!r} is not a FHIR date")

    def coding(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            self.report(where, "must be a Coding object")
            return
        for key, item in value.items():
            kind = _CODING_KEYS.get(key)
            if kind is None:
                self.report(f"{where}.{key}", "is not an element of Coding")
            elif not isinstance(item, kind) or item in ("", None):
                self.report(f"{where}.{key}", f"must be a non-empty {kind.__name__}")

    def condition(self, text: str) -> bool:
        found = re.fullmatch(r"%resource\.(\w+)\s*=\s*'([^']*)'", text.strip())
        if found is None:
            raise ValueError(f"type-specifier condition not understood: {text!r}")
        return isinstance(self.instance, dict) and self.instance.get(found[1]) == found[2]

    def object(self, kids: list[tuple[Model, Element]], value: Any, where: str) -> None:
        if not isinstance(value, dict):
            self.report(where, f"must be a JSON object, not {type(value).__name__}")
            return
        known = {k.name for _, k in kids}
        for key in value:
            if key not in known:
                self.report(f"{where}.{key}", "is not an element of this model")
        for model, kid in kids:
            self.property(model, kid, value, where)

    def property(self, model: Model, kid: Element, parent: dict[str, Any], where: str) -> None:
        name, here = kid.name, f"{where}.{kid.name}"
        if name not in parent:
            if kid.min > 0 or kid.required_property:
                self.report(here, "is required")
            return
        value = parent[name]
        if value is None:
            self.report(here, "must not be null")
            return
        if kid.property_key:
            self.keyed(model, kid, value, here)
            return
        if kid.max > 1:
            if not isinstance(value, list):
                self.report(here, "must be a JSON array")
                return
            if not value and kid.empty_behavior != "present":
                self.report(here, "must not be an empty array (omit it)")
            self.count(kid, len(value), here)
            for i, item in enumerate(value):
                if item is None:
                    self.report(f"{here}[{i}]", "must not be null")
                else:
                    self.node(model, kid, item, f"{here}[{i}]")
            return
        if isinstance(value, list):
            self.report(here, f"must be a single value (max {kid.max:g}), not an array")
            return
        self.node(model, kid, value, here)

    def count(self, kid: Element, n: int, here: str) -> None:
        if n < kid.min:
            self.report(here, f"has {n} item(s), needs at least {kid.min}")
        if n > kid.max:
            self.report(here, f"has {n} item(s), allows at most {kid.max:g}")

    def keyed(self, model: Model, kid: Element, value: Any, here: str) -> None:
        """An element rendered as a JSON object: property names are its ``key``, values its
        ``value`` (json-property-key), e.g. ``prefetch``."""
        assert kid.property_key is not None
        if not isinstance(value, dict):
            self.report(here, "must be a JSON object")
            return
        if not value:
            self.report(here, "must not be an empty object (omit it)")
        self.count(kid, len(value), here)
        by_name = {p.name: p for _, p in self.children(model, kid)}
        key_element, value_element = by_name[kid.property_key], by_name["value"]
        for key, item in value.items():
            self.typed(model, key_element, key, f"{here} key {key!r}")
            if item is None:
                if not value_element.nullable:
                    self.report(f"{here}.{key}", "must not be null")
            else:
                self.node(model, value_element, item, f"{here}.{key}")
