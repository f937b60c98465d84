"""Session fixtures: an admin Session on the test server, and a factory for other roles.

``admin_session`` connects to ``mongo_uri`` (SecantusDB subprocess, or JWSTNB_TEST_MONGO_URI)
with a fresh database (``db_name``), so the validator and indexes are in place and every test
starts empty. ``make_session("anonymous" | "admin" | "user", user=...)`` (or
``make_session("alice")`` for a user) returns views over the same client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from jwstnb.session import Session, connect


@pytest.fixture
def admin_session(mongo_uri: str, db_name: str) -> Iterator[Session]:
    """An admin Session on a fresh database with the validator and indexes in place."""
    session = connect(mongo_uri, admin=True, database=db_name, timeout=10)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def make_session(admin_session: Session) -> Iterator[Callable[..., Session]]:
    """Factory: ``make_session(role="user", user=None)``; a bare name means that user."""
    made: list[Session] = []

    def make(role: str = "admin", user: str | None = None) -> Session:
        if role == "admin":
            view = admin_session.as_admin()
        elif role == "anonymous":
            view = admin_session.anonymous()
        elif role == "user":
            if user is None:
                raise ValueError("make_session('user', user='name')")
            view = admin_session.as_user(user)
        else:
            view = admin_session.as_user(role)
        made.append(view)
        return view

    yield make
    for view in made:
        view.close()
