"""Feedback wire model (CDS Hooks 2.0 §Feedback): ``{"feedback": [Feedback, ...]}``.

Strict where the spec is (``card``, ``outcome``, ``outcomeTimestamp`` REQUIRED; an accepted card
names the suggestions taken; an override reason says something), lenient where real clients
differ: the CDS Hooks sandbox sends ``overrideReason.reason`` with only ``code`` and ``system``,
unknown fields are ignored, and a timestamp without a zone is read as UTC (2.0 asks for UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cds_service.store.clock import to_utc

MAX_ITEMS = 1000


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class ReasonCoding(_Lenient):
    """A Coding from the card's ``overrideReasons``; ``display`` (and ``system``) often omitted."""

    system: str | None = Field(default=None, max_length=1024)
    code: str = Field(min_length=1, max_length=256)
    display: str | None = Field(default=None, max_length=1024)


class OverrideReason(_Lenient):
    reason: ReasonCoding | None = None
    user_comment: str | None = Field(default=None, alias="userComment", max_length=4000)

    @model_validator(mode="after")
    def _says_something(self) -> OverrideReason:
        # cds-fb-3 (3.0 FSH, derived from 2.0 text): overrideReason has a reason or a comment.
        if self.reason is None and not self.user_comment:
            raise ValueError("overrideReason needs a reason or a userComment")
        return self


class AcceptedSuggestion(_Lenient):
    id: str = Field(min_length=1, max_length=512)


class FeedbackItem(_Lenient):
    card: str = Field(min_length=1, max_length=512)
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = Field(
        default=None, alias="acceptedSuggestions", max_length=100)
    override_reason: OverrideReason | None = Field(default=None, alias="overrideReason")
    outcome_timestamp: datetime = Field(alias="outcomeTimestamp")

    @field_validator("outcome_timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return to_utc(value)

    @model_validator(mode="after")
    def _accepted_names_suggestions(self) -> FeedbackItem:
        # 2.0: acceptedSuggestions is "Required for accepted outcomes" (cds-fb-2).
        if self.outcome == "accepted" and not self.accepted_suggestions:
            raise ValueError("acceptedSuggestions is required when outcome is 'accepted'")
        return self


class FeedbackRequest(_Lenient):
    # 2.0: the body "SHALL be an object containing an array" named feedback.
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_ITEMS)
