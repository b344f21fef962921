"""Response wire models (CDS Hooks 2.0 §CDS Service Response, §Card Attributes, §Action).

Optional attributes default to ``None`` and are dropped on output: 2.0 §Use of JSON forbids
null or empty values, except ``cards: []`` which means "no guidance".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)


class Coding(_Out):
    system: str
    code: str
    display: str | None = None


class Source(_Out):
    label: str
    url: str | None = None
    topic: Coding | None = None


class Link(_Out):
    label: str
    url: str
    type: Literal["absolute", "smart"] = "absolute"


class Action(_Out):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resource_id: str | None = Field(default=None, alias="resourceId")

    def to_json_dict(self) -> dict[str, Any]:
        """What ``model_dump(by_alias=True, exclude_none=True)`` gives, without copying the
        resource (a whole order, for every in-scope order of a call): it is serialised as is."""
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.resource is not None:
            out["resource"] = self.resource
        if self.resource_id is not None:
            out["resourceId"] = self.resource_id
        return out


class Suggestion(_Out):
    label: str
    uuid: str
    is_recommended: bool | None = Field(default=None, alias="isRecommended")
    actions: list[Action] | None = None


class Card(_Out):
    uuid: str
    summary: str = Field(max_length=139)
    indicator: Literal["info", "warning", "critical"]
    source: Source
    detail: str | None = None
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = Field(
        default=None, alias="selectionBehavior")
    override_reasons: list[Coding] | None = Field(default=None, alias="overrideReasons")
    links: list[Link] | None = None
    extension: dict[str, Any] | None = None


class HookResponse(_Out):
    cards: list[Card]
    system_actions: list[Action] | None = Field(default=None, alias="systemActions")

    def to_json_dict(self) -> dict[str, Any]:
        out = self.model_dump(by_alias=True, exclude_none=True, exclude={"system_actions"})
        if self.system_actions is not None:
            out["systemActions"] = [a.to_json_dict() for a in self.system_actions]
        return out
