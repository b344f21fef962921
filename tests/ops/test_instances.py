"""Two instances behind one load balancer: two ``cds-service serve`` processes on one PostgreSQL
database, both known to EHRs by the same public URL (so one token's ``aud`` fits either). A token
used on one is refused by the other, and both write decision records to the shared database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.auth.ehr import EHR
from tests.ops.processes import CLI, call, production, serving_together, sign_request
from tests.store.helpers import assertion_ids

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, timeout=60,
                          check=False)


def test_two_instances_share_replay_protection_and_records(postgres_url: str,
                                                           tmp_path: Path) -> None:
    ehr = EHR()
    env = production(tmp_path, ehr, postgres_url)
    upgraded = cli(env, tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr.decode()

    with serving_together([env, env], tmp_path) as (a, b):
        token = ehr.token()
        body_a, body_b = sign_request(), sign_request()
        on_a = call(a, token, body_a)
        assert on_a.status_code == 200, on_a.text
        assert call(b, token).status_code == 401  # the same token, on the other instance
        on_b = call(b, ehr.token(), body_b)
        assert on_b.status_code == 200, on_b.text

    for body, answer in ((body_a, on_a.json()), (body_b, on_b.json())):
        [assertion] = assertion_ids(answer)
        shown = cli(env, tmp_path, "records", "decision", assertion)
        assert shown.returncode == 0, shown.stderr.decode()
        record = json.loads(shown.stdout)
        assert record["hookInstance"] == body["hookInstance"]
        assert record["cards"][0]["uuid"] == answer["cards"][0]["uuid"]
