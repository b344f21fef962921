"""The readiness heartbeat: a tiny committed write on the hook calls' own path (pure SQL).

``SELECT 1`` answers while a full disk, a read-only file or a read-only standby refuses every
record; a commit does not. The row lives in ``jti_seen`` under a key no JWT id can have (a
digest is 64 hex digits), expired at once, so the jti purge may remove it at any time.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from cds_service.store.tables import jti_seen

KEY = "readiness-heartbeat"


def heartbeat(conn: Connection, now: int) -> None:
    # An upsert, so processes and instances beating at once never collide on the key.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(jti_seen).values(digest=KEY, expires_at=now)
    conn.execute(statement.on_conflict_do_update(index_elements=["digest"],
                                                 set_={"expires_at": now}))
