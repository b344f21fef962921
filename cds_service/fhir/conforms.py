"""A quick, conservative answer to "would fhir.resources accept this resource?" (pure).

``fhir.resources`` validates a resource by building a model of every element: each complex
element is another ``model_validate`` through Python wrappers (fhir_core's ``FhirBase``), with
a before and an after validator each. For a matched order that was about a fifth of a call's own
work (docs/performance.md). Most orders are plain: every element one R4 defines, no primitive
extensions (``_status``), no contained resources. For those, this walk asks the same questions
of the same table, the models' fields, without building anything:

- each key is the JSON name of an element of the model, and nothing else (``extra="forbid"``);
- a repeating element is a non-empty array, a single one is neither an array nor null;
- a primitive's value passes the very type ``fhir.resources`` declares for it (its own
  pydantic validator, the same regular expressions and bounds);
- a complex element is an object that passes the same checks against its own model;
- required elements are present (pydantic's required fields and the model's
  ``get_required_fields``), and at most one type of a choice ``[x]`` (exactly one when the
  choice is required: the model's ``get_one_of_many_fields``).

``True`` means the full validation would accept the resource (tests/unit/test_conforms.py sends
thousands of mutated orders through both and finds no case where this says True and the model
refuses). ``False`` means only "not sure": anything this walk does not model (a primitive's
``_element`` extension, a contained resource, a JSON string where an object belongs, which
fhir.resources parses) sends the resource to the full validation, which decides and says what
is wrong. So an answer never depends on which path ran; only its cost does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Union, get_args, get_origin

from fhir_core.types import FhirBase, FhirElementOrResourceBase
from fhir_core.utils import is_list_type, is_primitive_type
from pydantic import BaseModel, TypeAdapter, ValidationError


@dataclass(frozen=True)
class _Element:
    many: bool
    check: Callable[[Any], bool]


@dataclass(frozen=True)
class _Shape:
    elements: dict[str, _Element]
    """By JSON name (the field's alias)."""
    required: tuple[str, ...]
    choices: tuple[tuple[tuple[str, ...], bool], ...]
    """(the JSON names of a choice's types, whether one of them is required)."""
    reaches: tuple[type[BaseModel], ...]
    """The models of its complex elements (their tables are built on first use)."""


def prepare(models: Iterable[type[BaseModel]]) -> None:
    """Build the tables of ``models`` and of every element type they reach, now (at start-up,
    where the first call would otherwise pay for it: about 0.1 s, mostly importing the models'
    modules, which the full validation would import then too)."""
    todo = list(models)
    seen: set[type[BaseModel]] = set()
    while todo:
        model = todo.pop()
        if model not in seen:
            seen.add(model)
            todo += _shape(model).reaches


def conforms(model: type[BaseModel], resource: dict[str, Any]) -> bool:
    """Whether ``model`` (a resource's R4B class) surely accepts ``resource``, its JSON."""
    resource_type = resource.get("resourceType") if type(resource) is dict else None
    return resource_type == getattr(model, "__resource_type__", None) \
        and _conforms(_shape(model), resource, root=True)


def _conforms(shape: _Shape, value: Any, *, root: bool = False) -> bool:
    if type(value) is not dict:
        return False
    elements = shape.elements
    for key, item in value.items():
        element = elements.get(key)
        if element is None:
            if root and key == "resourceType":  # checked by conforms()
                continue
            return False
        if element.many:
            if type(item) is not list or not item:
                return False
            if not element.check(item):
                return False
        elif item is None or type(item) is list or not element.check(item):
            return False
    for name in shape.required:
        if name not in value:
            return False
    for names, required in shape.choices:
        present = sum(1 for name in names if name in value)
        if present > 1 or (required and present == 0):
            return False
    return True


@cache
def _shape(model: type[BaseModel]) -> _Shape:
    elements: dict[str, _Element] = {}
    required: list[str] = []
    reaches: list[type[BaseModel]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        if name == "fhir_comments" or name.endswith("__ext"):
            continue  # not elements: left out, so a key naming one takes the full validation
        if field.is_required():
            required.append(key)  # even when not modelled: then never quick, present or not
        many = is_list_type(field)
        if is_primitive_type(field):
            check = _primitive(field.annotation)
        else:
            target = _element_type(field.annotation)
            if target is None:
                continue
            reaches.append(target.get_model_klass())
            check = _complex(reaches[-1], many)
        elements[key] = _Element(many, check)
    sample: Any = model.model_construct()
    for name, _ext in sample.get_required_fields():
        required.append(model.model_fields[name].alias or name)
    choices = []
    for prefix, names in sample.get_one_of_many_fields().items():
        extra = model.model_fields[names[0]].json_schema_extra
        assert isinstance(extra, dict) and extra.get("one_of_many") == prefix
        choices.append((tuple(model.model_fields[n].alias or n for n in names),
                        extra.get("one_of_many_required") is True))
    return _Shape(elements, tuple(dict.fromkeys(required)), tuple(choices), tuple(reaches))


def _primitive(annotation: Any) -> Callable[[Any], bool]:
    # The declared type itself (Optional[...] included: no value here is None), so its value
    # rules are fhir.resources' own. One for each of the few distinct annotations (27 across
    # the order types' 373 primitive elements).
    if annotation not in _PRIMITIVES:
        _PRIMITIVES[annotation] = _primitive_check(TypeAdapter(annotation))
    return _PRIMITIVES[annotation]


_PRIMITIVES: dict[Any, Callable[[Any], bool]] = {}


def _primitive_check(adapter: TypeAdapter[Any]) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        try:
            adapter.validate_python(value)
        except (ValidationError, ValueError, TypeError):
            return False
        return True

    return check


def _complex(model: type[BaseModel], many: bool) -> Callable[[Any], bool]:
    def one(value: Any) -> bool:
        return _conforms(_shape(model), value)

    if not many:
        return one
    return lambda items: all(one(item) for item in items)


def _element_type(annotation: Any) -> type[FhirBase] | None:
    """The complex type of a field (``Optional[List[ReferenceType]]`` -> ``ReferenceType``);
    None for any other annotation, and for "any resource" (``contained``), left to the full
    validation."""
    while get_origin(annotation) in (Union, list) or _is_union(annotation):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        annotation = args[0]
    if isinstance(annotation, type) and issubclass(annotation, FhirBase) \
            and not issubclass(annotation, FhirElementOrResourceBase):
        return annotation
    return None


def _is_union(annotation: Any) -> bool:
    return type(annotation).__name__ == "UnionType"  # X | None
