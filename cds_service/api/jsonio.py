"""JSON in and out: orjson (2-3x faster than json), with size and nesting limits on input."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from cds_service.errors import BadRequest, PayloadTooLarge
from cds_service.fhir.bounds import check_bounds


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class FHIRJSONResponse(JSONResponse):
    media_type = "application/fhir+json"


async def read_json(request: Request, *, max_bytes: int, max_depth: int | None) -> Any:
    """The body as JSON, within ``max_bytes``, and within ``max_depth`` unless None (a caller
    that checks more in the same walk: ``check_bounds``)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is over the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body is over the {max_bytes}-byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise BadRequest("request body is empty; a JSON object is required")
    if b"\\u0000" in body:
        # FHIR strings cannot hold NUL, and PostgreSQL text cannot store it (a record write
        # would fail after we had answered). A raw NUL byte is already invalid JSON.
        raise BadRequest("JSON strings must not contain the NUL character (\\u0000)")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("request body must be a JSON object")
    if max_depth is not None:
        check_bounds(value, max_depth=max_depth)
    return value
