"""The readiness heartbeat: a committed write on the hook calls' own path (pure SQL).

``SELECT 1`` answers while a full disk, a read-only file or a read-only standby refuses every
record; a commit does not. And a write to one table says nothing of the others: a table renamed
or an INSERT privilege revoked on the decision-card table failed every hook call while
``/readyz`` stayed ready. So the heartbeat writes a probe record into every table the service
writes (a decision with one order, one card and one coverage assertion, and a feedback item),
through the same functions as a hook call, inside a savepoint it then rolls back: nothing is
left, and nothing another reader could see. What it commits is one row in ``jti_seen``, under a
key no JWT id can have (a digest is 64 hex digits), expired at once, so the jti purge may remove
it at any time.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from cds_service.store.decisions import save_decision
from cds_service.store.feedback import FeedbackRecord, save_feedback
from cds_service.store.records import AssertionRecord, CardRecord, DecisionRecord, OrderRecord
from cds_service.store.tables import jti_seen

KEY = "readiness-heartbeat"
PROBE = "readiness-probe"


def heartbeat(conn: Connection, now: int) -> None:
    with conn.begin_nested() as probe:
        _write_every_table(conn, datetime.fromtimestamp(now).astimezone())
        probe.rollback()
    # An upsert, so processes and instances beating at once never collide on the key.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(jti_seen).values(digest=KEY, expires_at=now)
    conn.execute(statement.on_conflict_do_update(index_elements=["digest"],
                                                 set_={"expires_at": now}))


def _write_every_table(conn: Connection, at: datetime) -> None:
    card = str(uuid.uuid4())  # unique per beat: processes beating at once never wait on a key
    save_decision(conn, DecisionRecord(
        recorded_at=at, hook_instance=str(uuid.uuid4()), service_id=PROBE, hook=PROBE,
        client_iss=PROBE, client_tenant=None, client_jti=None, fhir_server=None, options={},
        fetched=(),
        orders=(OrderRecord(0, "ServiceRequest", PROBE, (), policy_id=PROBE,
                            policy_version=PROBE),),
        cards=(CardRecord(0, card, 0, PROBE, PROBE, None, None, "info", PROBE, ()),),
        assertions=(AssertionRecord(0, str(uuid.uuid4()), 0, f"Coverage/{PROBE}", "covered",
                                    None, None),)))
    save_feedback(conn, [FeedbackRecord(PROBE, PROBE, None, card, "accepted", at, None, None,
                                        None, None, None)], at)
