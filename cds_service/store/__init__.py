"""Records: every decision we answered, the feedback on our cards, and the JWT replay store.

    db.py        engine, SQLite/PostgreSQL specifics, schema version check (Alembic)
    tables.py    the schema; migrations/ holds its Alembic revisions
    records.py   a decision record built from an Evaluation (pure)
    decisions.py writing, reading back and purging decision records
    feedback.py  CDS Hooks feedback items: built from the wire model (pure), stored idempotently
    replay.py    the ReplayStore on the shared database
    stats.py     how clinicians reacted to our cards, per policy
    retention.py purging records older than CDS_RETENTION_DAYS, in short batches
    writer.py    the one writer thread per process: concurrent calls' writes, one commit
    service.py   ``Records``: what the running service uses (async; DB work off the event loop)
    clock.py     UTC datetimes as the records keep them
    commands.py  ``cds-service db ...`` and ``cds-service records ...``
"""
