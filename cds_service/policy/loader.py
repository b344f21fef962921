"""Load policy files: the bundled ones, then ``CDS_POLICY_DIR`` (same id replaces, new id adds).

A file holds one policy, or several dated versions of it: one YAML document each (separated by
``---``), each a whole policy with the same ``id`` and its own ``version`` and ``effective`` date.
The version in force on an order's date of service decides (``in_force``). A file that does not
validate is refused with the file and field named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path

from cds_service.datafiles import load_models
from cds_service.errors import ConfigurationError
from cds_service.fhir.coding import canonical, listed
from cds_service.policy.models import Policy, ProcedureCode, normalise_space

BUNDLED_DIR = Path(str(resources.files("cds_service.policy") / "bundled"))


@dataclass(frozen=True)
class LoadedPolicy:
    """One version of a policy."""

    policy: Policy
    path: Path
    document: str | None
    """Text of the payer's source document, when the policy names one."""


def is_bundled(loaded: LoadedPolicy) -> bool:
    """Shipped with the service (the bundled payer's), not read from ``CDS_POLICY_DIR``."""
    return loaded.path.parent == BUNDLED_DIR


def in_force(versions: Sequence[LoadedPolicy], on: date) -> LoadedPolicy | None:
    """The version deciding for a service on ``on``: the latest ``effective`` on or before it (a
    version without one is in force from the start). None before the first version's date: the
    policy did not exist yet."""
    found = None
    for version in versions:  # oldest first
        effective = version.policy.effective
        if effective is None or effective <= on:
            found = version
    return found


@dataclass(frozen=True)
class PolicySet:
    versions: dict[str, tuple[LoadedPolicy, ...]]
    """Every version of each policy by id, oldest first."""
    _by_code: dict[tuple[str, str], tuple[str, ...]] = field(repr=False)
    """Ids of the policies naming (canonical system, code) in any version, in id order."""

    def __len__(self) -> int:
        return len(self.versions)

    def all(self) -> Iterator[LoadedPolicy]:
        """Every version of every policy."""
        for versions in self.versions.values():
            yield from versions

    def get(self, policy_id: str, on: date | None = None,
            version: str | None = None) -> LoadedPolicy | None:
        """The named ``version``; else the one in force ``on`` that date; else the newest. A
        policy whose first version is yet to come is shown by that version."""
        versions = self.versions.get(policy_id, ())
        if version is not None:
            return next((v for v in versions if v.policy.version == version), None)
        if not versions:
            return None
        return (in_force(versions, on) if on is not None else None) or versions[-1]

    def has_versions(self, policy_id: str) -> bool:
        return len(self.versions.get(policy_id, ())) > 1

    def names(self, system: str, code: str) -> bool:
        """Whether any version of any policy names the code (whatever the date)."""
        return canonical(system, code) in self._by_code

    def by_code(self, system: str, code: str, on: date,
                ) -> tuple[tuple[Policy, ProcedureCode], ...]:
        """Every policy naming the code in its version in force ``on`` (several may: each
        applies, README "Several policies, one order"), in policy id order."""
        found = []
        key = canonical(system, code)
        for policy_id in self._by_code.get(key, ()):
            version = in_force(self.versions[policy_id], on)
            entry = version.policy.code(key) if version is not None else None
            if version is not None and entry is not None:
                found.append((version.policy, entry))
        return tuple(found)


def load_policy_file(path: Path) -> tuple[LoadedPolicy, ...]:
    """The file's versions, oldest first."""
    versions = sorted(load_models(Policy, path), key=lambda p: p.effective or date.min)
    _check_versions(path, versions)
    return tuple(_with_document(path, policy, f"document {i}: " if len(versions) > 1 else "")
                 for i, policy in enumerate(versions, 1))


def _check_versions(path: Path, versions: list[Policy]) -> None:
    if len(versions) == 1:
        return
    problems = []
    if len({p.id for p in versions}) > 1:
        problems.append("id: every document of a file is a version of the same policy")
    for name, values in (("version", [p.version for p in versions]),
                         ("effective", [p.effective for p in versions])):
        if len(set(values)) != len(values):
            problems.append(f"{name}: two versions have the same {name}")
    if sum(p.effective is None for p in versions) > 1:
        problems.append("effective: only the first version may leave it out")
    if problems:
        raise ConfigurationError(str(path), problems)


def _with_document(path: Path, policy: Policy, where: str) -> LoadedPolicy:
    document = None
    if policy.source.document:
        doc_path = path.parent / policy.source.document
        try:
            document = doc_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                str(path), [f"{where}source.document: cannot read {doc_path}: {exc}"]) from None
        normalised = normalise_space(document)
        missing = [(name, q.quote) for name, q in policy.quotes().items()
                   if q.quote not in normalised]
        if missing:
            raise ConfigurationError(str(path), [
                f"{where}{name}.quote: not found verbatim in {policy.source.document}; "
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


def build_policy_set(loaded: Iterable[tuple[LoadedPolicy, ...]]) -> PolicySet:
    policies: dict[str, tuple[LoadedPolicy, ...]] = {}
    for versions in loaded:
        policies[versions[0].policy.id] = versions
    by_code: dict[tuple[str, str], tuple[str, ...]] = {}
    for policy_id in sorted(policies):
        for item in policies[policy_id]:
            for pc in item.policy.codes:
                key = listed(pc.system, pc.code)
                if policy_id not in by_code.get(key, ()):
                    by_code[key] = (*by_code.get(key, ()), policy_id)
    return PolicySet(policies, by_code)


def load_policies(extra_dir: Path | None = None) -> PolicySet:
    paths = policy_files(BUNDLED_DIR)
    if extra_dir is not None:
        paths += policy_files(extra_dir)
    return build_policy_set(load_policy_file(p) for p in paths)
