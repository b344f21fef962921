"""Public pages the cards link to: the policy index, each policy as a readable page with a preview
of the cards it produces, and our override reasons.

Payers publish medical policies openly; these pages carry no patient data and need no token
(a clinician opens them from the EHR's browser).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cds_service.api.jsonio import FHIRJSONResponse
from cds_service.errors import NotFound
from cds_service.pages import render
from cds_service.policy.loader import LoadedPolicy
from cds_service.policy.models import Policy
from cds_service.preview import preview
from cds_service.runtime import Runtime

router = APIRouter()


@router.get("/policies", response_class=HTMLResponse)
async def list_policies(request: Request) -> HTMLResponse:
    """The page a card's source label opens: the payer's medical policies this service applies."""
    rt: Runtime = request.app.state.runtime
    ev = rt.evaluator
    policies = sorted((lp.policy for lp in rt.knowledge.policies.policies.values()),
                      key=lambda p: p.title)
    return HTMLResponse(render.index_page(
        [(p, ev.policy_url(p), preview_url(rt, p)) for p in policies],
        payer=rt.knowledge.payer.name, index_url=ev.policies_url))


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
async def policy_page(policy_id: str, request: Request) -> HTMLResponse:
    """The policy with an anchor per section, so cards can deep-link to the evidence."""
    rt: Runtime = request.app.state.runtime
    loaded = _policy_or_404(rt, policy_id)
    names = {line.id: line.name for line in rt.knowledge.payer.lines_of_business}
    return HTMLResponse(render.policy_page(
        loaded.policy, line_names=names, document=loaded.document,
        index_url=rt.evaluator.policies_url, preview_url=preview_url(rt, loaded.policy),
        payer=rt.knowledge.payer.name))


@router.get("/policies/{policy_id}/preview", response_class=HTMLResponse)
async def card_preview(policy_id: str, request: Request) -> HTMLResponse:
    """Every card the policy can produce, as the hook endpoint answers (see cds_service.preview)."""
    rt: Runtime = request.app.state.runtime
    loaded = _policy_or_404(rt, policy_id)
    # Policies and payer file are fixed for the app's life, and so are the cards: made once per
    # app (about 1 ms per card), so an open page cannot take CPU from hook calls.
    made: dict[str, str] | None = getattr(request.app.state, "preview_pages", None)
    if made is None:
        made = request.app.state.preview_pages = {}
    if policy_id not in made:
        previews = await preview(rt.evaluator, loaded.policy, rt.knowledge.payer)
        made[policy_id] = render.preview_page(
            loaded.policy, previews, payer=rt.knowledge.payer.name,
            index_url=rt.evaluator.policies_url,
            policy_url=f"{rt.evaluator.policies_url}/{loaded.policy.id}")
    return HTMLResponse(made[policy_id])


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
    loaded = rt.knowledge.policies.get(policy_id)
    if loaded is None:
        raise NotFound(f"no policy {policy_id!r}")
    return loaded
