"""Client options: Da Vinci CRD hook configuration and version negotiation.

Discovery advertises ``davinci-crd.configuration-options``; the client answers with
``extension."davinci-crd.configuration"``. Servers SHALL obey supported options, SHALL NOT
require any and SHALL ignore unknown ones (CRD §dev-14..17).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds_service.crd_versions import DEFAULT, CrdVersion, choose

CONFIGURATION = "davinci-crd.configuration"
REQUESTED_VERSION = "davinci-crd.requestedVersion"
DEFAULT_MAX_CARDS = 10


@dataclass(frozen=True)
class Options:
    coverage_info: bool = True
    disabled_card_types: frozenset[str] = field(default_factory=frozenset)
    max_cards: int = DEFAULT_MAX_CARDS
    version: CrdVersion = DEFAULT
    """The Da Vinci CRD version the call is answered in (``crd_versions.choose``)."""


def read_options(extension: dict[str, Any] | None, client_version: str | None = None,
                 ) -> Options:
    """``client_version``: the version the caller's trust-file entry names, if any."""
    ext = extension or {}
    config = ext.get(CONFIGURATION)
    config = config if isinstance(config, dict) else {}
    disabled = frozenset(k for k, v in config.items() if v is False and k != "coverage-info")
    # "coverage" is the reference implementation's name for the same option; accept both.
    coverage_info = config.get("coverage-info", config.get("coverage", True)) is not False
    max_cards = config.get("max-cards", DEFAULT_MAX_CARDS)
    if isinstance(max_cards, bool) or not isinstance(max_cards, int) or max_cards < 0:
        max_cards = DEFAULT_MAX_CARDS  # nonsense values are handled gracefully (§dev-6)
    return Options(coverage_info, disabled, max_cards,
                   choose(ext.get(REQUESTED_VERSION), client_version))


def configuration_options(card_types: list[str]) -> list[dict[str, Any]]:
    """Discovery entry for every option we honour (each card type we return, §dev-5)."""
    options: list[dict[str, Any]] = [{
        "code": "coverage-info", "type": "boolean", "name": "Coverage Information",
        "description": "Record the payer's coverage determination on each evaluated order "
                       "(Da Vinci CRD coverage-information system action).",
        "default": True,
    }]
    options += [{
        "code": code, "type": "boolean", "name": _CARD_TYPE_NAMES.get(code, code),
        "description": f"Cards of type '{code}': the payer's medical policy for the ordered "
                       "service, with its evidence summary and a link to the policy.",
        "default": True,
    } for code in sorted(set(card_types))]
    options.append({
        "code": "max-cards", "type": "integer", "name": "Maximum cards",
        "description": "The most cards returned for one hook call.",
        "default": DEFAULT_MAX_CARDS,
    })
    return options


_CARD_TYPE_NAMES = {"guideline": "Guidelines", "off-guideline": "Off Guideline",
                    "coverage-info": "Coverage Information"}
