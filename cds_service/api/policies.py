"""Public pages the cards link to: each policy as a readable page, and our override reasons.

Payers publish medical policies openly; these pages carry no patient data and need no token
(a clinician opens them from the EHR's browser).
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cds_service.api.jsonio import FHIRJSONResponse
from cds_service.errors import NotFound
from cds_service.policy.models import Policy, Quote
from cds_service.runtime import Runtime

router = APIRouter()


@router.get("/policies", response_class=HTMLResponse)
async def list_policies(request: Request) -> HTMLResponse:
    """The page a card's source label opens: the payer's medical policies this service applies."""
    rt: Runtime = request.app.state.runtime
    items = "".join(
        f'<li><a href="{escape(rt.evaluator.policy_url(lp.policy))}">{escape(lp.policy.title)}</a>'
        f" (version {escape(lp.policy.version)})</li>"
        for lp in sorted(rt.knowledge.policies.policies.values(), key=lambda lp: lp.policy.title))
    payer = escape(rt.knowledge.payer.name)
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{payer} medical '
        f"policies</title></head><body><h1>{payer} medical policies</h1><ul>{items}</ul>"
        "</body></html>")


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
async def policy_page(policy_id: str, request: Request) -> HTMLResponse:
    rt: Runtime = request.app.state.runtime
    loaded = rt.knowledge.policies.get(policy_id)
    if loaded is None:
        raise NotFound(f"no policy {policy_id!r}")
    names = {line.id: line.name for line in rt.knowledge.payer.lines_of_business}
    return HTMLResponse(render_policy(loaded.policy, names, loaded.document))


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


def render_policy(p: Policy, line_names: dict[str, str], document: str | None) -> str:
    """A plain page with an anchor per section, so cards can deep-link to the evidence."""

    def q(value: Quote | None) -> str:
        return f"<blockquote>{escape(value.quote)}</blockquote>" if value else ""

    def section(anchor: str, heading: str, body: str) -> str:
        return f'<h2 id="{anchor}">{escape(heading)}</h2>{body}' if body else ""

    version = f"{p.payer} medical policy, version {p.version}"
    if p.source.updates:
        version += f" ({'; '.join(p.source.updates)})"
    codes = "".join(f"<tr><td>{escape(c.code)}</td><td>{escape(c.display)}</td></tr>"
                    for c in p.codes)
    determinations = "".join(
        f'<h3 id="determination-{escape(lob)}">{escape(line_names.get(lob, d.heading))}</h3>'
        f"{q(d.statement)}" for lob, d in p.determinations.items())
    evidence = "".join(f'<h3 id="evidence-{escape(i.id)}">{escape(i.name)}</h3>{q(i.evidence)}'
                       for i in p.indications) + q(p.evidence_conclusion)
    criteria = "".join(f"<p>{escape(label)}: {escape(value.quote)}</p>" for label, value in (
        ("Medical criteria", p.medical_criteria), ("Prior authorization", p.prior_authorization))
        if value)
    return "".join((
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(p.title)}</title></head><body>",
        f"<h1>{escape(p.title)}</h1><p>{escape(version)}</p>",
        section("overview", "Overview", q(p.overview)),
        section("criteria", "Medical criteria and prior authorization", criteria),
        section("codes", "Codes", f"<table>{codes}</table>"),
        section("policy-statement", "Policy statement", determinations),
        section("coverage", "Coverage", q(p.coverage_note)),
        section("evidence", "Evidence", evidence),
        section("member-liability", "Member liability", q(p.member_liability)),
        q(p.disclaimer),
        section("source", "Source document", f"<pre>{escape(document)}</pre>" if document else ""),
        "</body></html>",
    ))
