"""Whether a resource uses only elements FHIR R4 defines, by walking its JSON against the R4B
models' element names (pure).

``validate.ignored_in`` reports the unknown elements of resources we read without needing them
valid (the member's Coverage, a reason's Condition) for the decision record. Validating such a
resource with ``fhir.resources`` to learn that it has none costs about twenty times this walk
(98 against 5 us for the example Coverage), and nearly every resource has none. The walk is
conservative: it answers True only when every key at every level is an element name (JSON
alias) of the model there and every value has the shape that element takes; anything else (an
unknown key, a wrong shape, a model it cannot resolve) answers False, and the caller validates,
so what is reported is always the validator's own finding.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase

_TYPE_NAME = re.compile(r"[A-Z][A-Za-z]{0,63}")
_ANY_RESOURCE = frozenset({"Resource", "DomainResource"})
"""Element types (``contained``, a Bundle entry's ``resource``) whose model is named by the
value's own ``resourceType``."""


def _model(resource_type: object) -> type[FHIRAbstractModel] | None:
    # Callers choose these names: only a name that can be a FHIR type is looked up (and kept).
    if type(resource_type) is not str or not _TYPE_NAME.fullmatch(resource_type):
        return None
    return _known_model(resource_type)


@functools.lru_cache(maxsize=1024)
def _known_model(resource_type: str) -> type[FHIRAbstractModel] | None:
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None
    return model if issubclass(model, FHIRAbstractModel) else None


@functools.cache
def _elements(model: type[FHIRAbstractModel]) -> dict[str, tuple[bool, Any]]:
    """JSON name -> (repeats, element type): a model class, ``None`` for a primitive, or
    ``...`` for a type this walk does not resolve."""
    found: dict[str, tuple[bool, Any]] = {}
    for field in model.model_fields.values():
        if field.alias is not None:
            found[field.alias] = _element_type(field.annotation)
    return found


def _element_type(annotation: Any) -> tuple[bool, Any]:
    repeats, inner = False, annotation
    while True:
        origin = typing.get_origin(inner)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(inner) if a is not type(None)]
            if len(args) != 1:
                # fhir_comments: str | list[str]; nothing else has two shapes.
                kinds = {isinstance(a, type) and issubclass(a, FhirBase) for a in args}
                return False, ... if True in kinds else None
            inner = args[0]
        elif origin is list:
            repeats, inner = True, typing.get_args(inner)[0]
        elif origin is typing.Annotated:
            return repeats, None  # a constrained primitive (Annotated[str, Code()])
        else:
            break
    if isinstance(inner, type) and issubclass(inner, FhirBase):
        klass = inner.get_model_klass()
        return repeats, ("resource" if klass.__name__ in _ANY_RESOURCE else klass)
    return repeats, None if inner in (str, int, float, bool) or origin is None else ...


def only_defined(resource: dict[str, Any]) -> bool:
    """True when the resource uses no element R4 does not define (False: not sure)."""
    model = _model(resource.get("resourceType"))
    return model is not None and _known(model, resource)


def _known(model: type[FHIRAbstractModel], value: dict[str, Any]) -> bool:
    elements = _elements(model)
    for key, item in value.items():
        if key == "resourceType":
            if item != model.__resource_type__:
                return False
            continue
        element = elements.get(key)
        if element is None:
            return False
        repeats, kind = element
        if kind is None:
            continue
        if kind is ...:
            return False
        if item is None:
            continue
        if repeats and type(item) is not list:
            return False
        for part in item if repeats else (item,):
            if type(part) is not dict:
                return False
            inner = _model(part.get("resourceType")) if kind == "resource" else kind
            if inner is None or not _known(inner, part):
                return False
    return True
