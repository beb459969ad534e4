"""Which store failures the notify stage waits out (transient) and which it dead-letters."""

from __future__ import annotations

from sqlalchemy import exc

from monitor.store.sql import is_transient


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _dbapi(sqlstate: str) -> exc.DBAPIError:
    orig = Exception("driver error")
    orig.__cause__ = _PgError(sqlstate)
    return exc.DBAPIError("INSERT ...", {}, orig)


def test_a_database_not_accepting_connections_is_transient() -> None:
    # Regression: asyncpg reports "database ... is not currently accepting connections" (55000) as a
    # plain DBAPIError, which used to send the alert to the dead-letter topic instead of waiting.
    assert is_transient(_dbapi("55000"))


def test_connection_and_resource_errors_are_transient() -> None:
    assert is_transient(_dbapi("08006"))
    assert is_transient(_dbapi("57P03"))
    assert is_transient(_dbapi("53300"))
    assert is_transient(exc.OperationalError("SELECT 1", {}, Exception("database is locked")))
    assert is_transient(ConnectionRefusedError())


def test_errors_in_the_data_or_the_query_are_permanent() -> None:
    assert not is_transient(_dbapi("23505"))
    assert not is_transient(_dbapi("22001"))
    assert not is_transient(_dbapi("42P01"))
    assert not is_transient(exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not is_transient(ValueError("bug"))
