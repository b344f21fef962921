"""Operations tests: real ``cds-service serve`` processes (tests/ops/processes.py). The
PostgreSQL cases take ``postgres_url``, a database of their own on the server named by
``CDS_TEST_POSTGRES_URL`` (tests/store/databases.py), and skip without it outside CI."""

from tests.store.databases import postgres_url

__all__ = ["postgres_url"]
