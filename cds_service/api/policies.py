"""Public pages the cards link to: the policy index, each policy as a readable page with a preview
of the cards it produces, and our override reasons.

Payers publish medical policies openly; these pages carry no patient data and need no token
(a clinician opens them from the EHR's browser).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cds_service.api.jsonio import FHIRJSONResponse
from cds_service.errors import BadRequest, NotFound
from cds_service.knowledge import Knowledge
from cds_service.pages import render
from cds_service.policy.loader import LoadedPolicy
from cds_service.policy.models import Policy
from cds_service.preview import FACETS, Preview, choices, matching, preview
from cds_service.runtime import Runtime

router = APIRouter()


@router.get("/policies", response_class=HTMLResponse)
async def list_policies(request: Request) -> HTMLResponse:
    """The page a card's source label opens: the payer's medical policies this service applies."""
    rt: Runtime = request.app.state.runtime
    ev = rt.evaluator
    today = ev.today()
    current = (rt.knowledge.policies.get(pid, today) for pid in rt.knowledge.policies.versions)
    policies = sorted((lp.policy for lp in current if lp is not None), key=lambda p: p.title)
    return HTMLResponse(render.index_page(
        [(p, ev.policy_url(p), preview_url(rt, p)) for p in policies],
        payer=rt.knowledge.payer.name, index_url=ev.policies_url))


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
async def policy_page(policy_id: str, request: Request) -> HTMLResponse:
    """The policy (the version in force today) with an anchor per section, so cards can
    deep-link to the evidence."""
    rt: Runtime = request.app.state.runtime
    return _policy_page(rt, _policy_or_404(rt, policy_id))


@router.get("/policies/{policy_id}/versions/{version}", response_class=HTMLResponse)
async def policy_version_page(policy_id: str, version: str, request: Request) -> HTMLResponse:
    """One version of a policy with several: the one a card or coverage information cites."""
    rt: Runtime = request.app.state.runtime
    loaded = rt.knowledge.policies.get(policy_id, version=version)
    if loaded is None:
        raise NotFound(f"no version {version!r} of policy {policy_id!r}")
    return _policy_page(rt, loaded)


def _policy_page(rt: Runtime, loaded: LoadedPolicy) -> HTMLResponse:
    versions = rt.knowledge.policies.versions[loaded.policy.id]
    return HTMLResponse(render.policy_page(
        loaded.policy, lines=rt.knowledge.payer.lines_of_business, document=loaded.document,
        index_url=rt.evaluator.policies_url, preview_url=preview_url(rt, loaded.policy),
        payer=rt.knowledge.payer.name,
        versions=[(v.policy, rt.evaluator.policy_url(v.policy)) for v in versions]))


@router.get("/policies/{policy_id}/preview", response_class=HTMLResponse)
async def card_preview(policy_id: str, request: Request,
                       member: Annotated[str | None, Query(
                           description="Only this member's plan, as the page names it")] = None,
                       code: Annotated[str | None, Query(
                           description="Only this code, e.g. CPT 47383")] = None,
                       indication: Annotated[str | None, Query(
                           description="Only this indication, as the page names it")] = None,
                       ) -> HTMLResponse:
    """Every card the policy can produce, as the hook endpoint answers (see cds_service.preview),
    narrowed by the filter form's query parameters (empty: all)."""
    rt: Runtime = request.app.state.runtime
    loaded = _policy_or_404(rt, policy_id)
    # The cards are fixed as long as the policies and payer file are (until a reload): made once
    # per set (about 1 ms per card), so an open page cannot take CPU from hook calls. Pages are
    # kept per filter too: only values the scenarios have get this far, so there are few.
    made, pages = _preview_caches(request, rt.knowledge)
    if policy_id not in made:
        made[policy_id] = await preview(rt.evaluator, loaded.policy, rt.knowledge.payer)
    previews = made[policy_id]
    options = choices(p.scenario for p in previews)
    wanted = {name: value for name, value in zip(FACETS, (member, code, indication), strict=True)
              if value}
    for name, value in wanted.items():
        if value not in options[name]:
            raise BadRequest(f"Query parameter {name!r} names no {name} of this preview; one of: "
                             f"{', '.join(options[name])} (or empty for all).", expression=name)
    key = (policy_id, *(wanted.get(name, "") for name in FACETS))
    if key not in pages:
        pages[key] = render.preview_page(
            loaded.policy, previews, matching(previews, wanted), choices=options,
            selected=wanted, payer=rt.knowledge.payer.name,
            index_url=rt.evaluator.policies_url,
            policy_url=f"{rt.evaluator.policies_url}/{loaded.policy.id}",
            preview_url=preview_url(rt, loaded.policy))
    return HTMLResponse(pages[key])


def _preview_caches(request: Request, knowledge: Knowledge,
                    ) -> tuple[dict[str, list[Preview]], dict[tuple[str, ...], str]]:
    """The app's previews by policy id, and its rendered pages by policy id and filter, of the
    set of policies in use (made again after a reload)."""
    state = request.app.state
    if getattr(state, "previews_of", None) is not knowledge:
        state.previews_of, state.previews, state.preview_pages = knowledge, {}, {}
    return state.previews, state.preview_pages


def preview_url(rt: Runtime, policy: Policy) -> str:
    return f"{rt.evaluator.policies_url}/{policy.id}/preview"


@router.get("/CodeSystem/override-reason")
async def override_reasons(request: Request) -> FHIRJSONResponse:
    rt: Runtime = request.app.state.runtime
    reasons = rt.knowledge.override_reasons()
    return FHIRJSONResponse({
        "resourceType": "CodeSystem", "url": rt.evaluator.override_system,
        "status": "active", "content": "complete", "caseSensitive": True,
        "name": "OverrideReason",
        "title": "Reasons a clinician keeps an order despite the payer's policy",
        "concept": [{"code": c, "display": d} for c, d in sorted(reasons.items())],
    })


def _policy_or_404(rt: Runtime, policy_id: str) -> LoadedPolicy:
    loaded = rt.knowledge.policies.get(policy_id, rt.evaluator.today())
    if loaded is None:
        raise NotFound(f"no policy {policy_id!r}")
    return loaded
