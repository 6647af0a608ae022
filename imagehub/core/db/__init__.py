"""Database engine construction and unit-of-work sessions."""

from imagehub.core.db.engine import check_connection, make_engine, safe_url, session_factory

__all__ = ["check_connection", "make_engine", "safe_url", "session_factory"]
