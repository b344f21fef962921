"""Load policy files: the bundled ones, then ``CDS_POLICY_DIR`` (same id replaces, new id adds).

A file that does not validate stops start-up with the file and field named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from cds_service.datafiles import load_model
from cds_service.errors import ConfigurationError
from cds_service.fhir.coding import canonical_code, canonical_system
from cds_service.policy.models import Policy, ProcedureCode, normalise_space

BUNDLED_DIR = Path(str(resources.files("cds_service.policy") / "bundled"))


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    path: Path
    document: str | None
    """Text of the payer's source document, when the policy names one."""


@dataclass(frozen=True)
class PolicySet:
    policies: dict[str, LoadedPolicy]
    _by_code: dict[tuple[str, str], tuple[tuple[Policy, ProcedureCode], ...]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.policies)

    def get(self, policy_id: str) -> LoadedPolicy | None:
        return self.policies.get(policy_id)

    def by_code(self, system: str, code: str) -> tuple[tuple[Policy, ProcedureCode], ...]:
        """Every policy naming the code (several may: each applies, README "Several policies,
        one order"), in policy id order."""
        system = canonical_system(system)
        return self._by_code.get((system, canonical_code(system, code)), ())


def load_policy_file(path: Path) -> LoadedPolicy:
    policy = load_model(Policy, path)
    document = None
    if policy.source.document:
        doc_path = path.parent / policy.source.document
        try:
            document = doc_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                str(path), [f"source.document: cannot read {doc_path}: {exc}"]) from None
        normalised = normalise_space(document)
        missing = [(name, q.quote) for name, q in policy.quotes().items()
                   if q.quote not in normalised]
        if missing:
            raise ConfigurationError(str(path), [
                f"{name}.quote: not found verbatim in {policy.source.document}; "
                f"{where_it_differs(quote, normalised)}" for name, quote in missing
            ])
    return LoadedPolicy(policy, path, document)


def where_it_differs(quote: str, document: str, context: int = 6) -> str:
    """Where a quote stops matching the document: its longest opening found there, then the
    quote's next words beside the document's (whitespace aside, as the check compares)."""
    words = quote.split(" ")
    lo, hi = 0, len(words)  # the longest opening of ``lo`` words is in the document
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if " ".join(words[:mid]) in document:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return f"not even its first word {words[0]!r} is in the document"
    opening = " ".join(words[:lo])
    # Of the places the opening occurs, the one the rest of the quote resembles most.
    rest = words[lo:lo + 3 * context]
    starts = [m.start() for m in re.finditer(re.escape(opening), document)]
    after = max((document[i + len(opening):].split(" ") for i in starts),
                key=lambda tail: sum(1 for word in rest if word in tail[:len(rest) + 2]))
    matched = " ".join(words[max(0, lo - context):lo])
    quoted = " ".join(words[lo:lo + context])
    actual = " ".join(w for w in after[:context + 1] if w) or "(the end of the document)"
    return (f"it matches up to \u201c\u2026{matched}\u201d, then reads \u201c{quoted}\u201d "
            f"where the document reads \u201c{actual}\u201d")


def policy_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigurationError(str(directory), ["not a directory"])
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def build_policy_set(loaded: Iterable[LoadedPolicy]) -> PolicySet:
    policies: dict[str, LoadedPolicy] = {}
    for item in loaded:
        policies[item.policy.id] = item
    by_code: dict[tuple[str, str], tuple[tuple[Policy, ProcedureCode], ...]] = {}
    for policy_id in sorted(policies):
        for pc in policies[policy_id].policy.codes:
            system = canonical_system(pc.system)
            key = (system, canonical_code(system, pc.code))
            by_code[key] = (*by_code.get(key, ()), (policies[policy_id].policy, pc))
    return PolicySet(policies, by_code)


def load_policies(extra_dir: Path | None = None) -> PolicySet:
    paths = policy_files(BUNDLED_DIR)
    if extra_dir is not None:
        paths += policy_files(extra_dir)
    return build_policy_set(load_policy_file(p) for p in paths)
