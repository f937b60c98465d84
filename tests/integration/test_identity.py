"""Identity is proven by the server (DESIGN §5): on a MongoDB URI the session's user is the
account SecantusDB (under ``--auth``) authenticated; acting as someone else is for admin
accounts only, and recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jwstnb.errors import AccessDenied, ConnectionFailed
from jwstnb.schema import JwstDataModel
from jwstnb.session import Session, connect
from tests.servers import AuthServer

pytestmark = pytest.mark.integration


@pytest.fixture
def sessions(auth_server: AuthServer) -> Iterator[list[Session]]:
    opened: list[Session] = []
    yield opened
    for s in opened:
        s.close()


def _connect(server: AuthServer, account: str, opened: list[Session], **kw: object) -> Session:
    s = connect(server.uri(account), database=server.database, **kw)  # type: ignore[arg-type]
    opened.append(s)
    return s


def test_a_user_account_is_that_user_and_cannot_be_anyone_else(
    auth_server: AuthServer, sessions: list[Session]
) -> None:
    alice = _connect(auth_server, "alice", sessions)
    assert (alice.role, alice.user) == ("user", "alice")
    with pytest.raises(AccessDenied, match="'alice' is not an admin: it cannot act as 'bob'"):
        _connect(auth_server, "alice", sessions, user="bob")
    with pytest.raises(AccessDenied, match="not an admin"):
        _connect(auth_server, "alice", sessions, admin=True)
    with pytest.raises(AccessDenied, match="admin accounts"):
        alice.as_user("bob")
    with pytest.raises(AccessDenied, match="admin accounts"):
        alice.as_admin()
    assert alice.as_user("alice").user == "alice"
    assert alice.anonymous().role == "anonymous"
    # user= naming the account itself is no impersonation
    assert _connect(auth_server, "alice", sessions, user="alice").user == "alice"


def test_private_records_follow_the_proven_account(
    auth_server: AuthServer, sessions: list[Session]
) -> None:
    alice = _connect(auth_server, "alice", sessions)
    bob = _connect(auth_server, "bob", sessions)
    rid = alice.insert(JwstDataModel(file_name="alice_private_i2d.fits", data_type="image"))
    assert alice.get(rid).user_id == "alice"
    with pytest.raises(AccessDenied):
        bob.insert(JwstDataModel(file_name="x_i2d.fits", data_type="image", user_id="alice"))
    assert rid not in {str(r.id) for r in bob.items(page_size=500)}


def test_an_admin_account_may_act_as_a_user_and_it_is_recorded(
    auth_server: AuthServer, sessions: list[Session]
) -> None:
    boss = _connect(auth_server, "boss", sessions)
    assert boss.role == "admin"
    as_bob = _connect(auth_server, "boss", sessions, user="bob")
    assert (as_bob.role, as_bob.user) == ("user", "bob")
    audit = boss.client[auth_server.database]["jwst_audit"]
    assert audit.find_one({"event": "impersonation", "account": "boss", "as": "bob"})


def test_a_wrong_password_is_connection_failed_without_the_password(
    auth_server: AuthServer,
) -> None:
    uri = auth_server.uri("alice").replace("alice-pw-0x2", "not-her-password")
    with pytest.raises(ConnectionFailed, match="authentication failed") as caught:
        connect(uri, database=auth_server.database, timeout=3)
    assert "not-her-password" not in str(caught.value)
