"""Shares with users and groups, viewer and editor roles, and taking a share back (DESIGN §5):
counts and facets follow at once; an editor changes tags, description and status only."""

from __future__ import annotations

import pytest

from jwstnb.errors import AccessDenied, NotFound, ValidationError
from jwstnb.schema import JwstDataModel
from jwstnb.session import Session

pytestmark = pytest.mark.integration


def _private(owner: Session, name: str) -> str:
    return owner.insert(JwstDataModel(file_name=name, data_type="image", tags=["mine"]))


def test_a_group_share_reaches_every_member_and_unshare_takes_it_back(
    admin_session: Session,
) -> None:
    alice, bob, carol, dave = (admin_session.as_user(u) for u in ("alice", "bob", "carol", "dave"))
    rid = _private(alice, "alice_group_i2d.fits")
    admin_session.add_to_group("team-a", "bob", "carol")
    assert admin_session.groups() == {"team-a": ["bob", "carol"]}
    alice.share(rid, group="team-a")
    for member in (admin_session.as_user("bob"), admin_session.as_user("carol")):
        assert member.get(rid).file_name == "alice_group_i2d.fits"
        assert member.count(tags=["mine"]) == 1
        assert member.counts(tags=["mine"]).facets["data_type"] == {"image": 1}
    assert dave.count(tags=["mine"]) == 0
    with pytest.raises(NotFound):
        dave.get(rid)
    # a viewer reads but changes nothing
    with pytest.raises(AccessDenied):
        admin_session.as_user("bob").update(rid, tags=["theirs"])
    alice.unshare(rid, group="team-a")
    for member in (admin_session.as_user("bob"), admin_session.as_user("carol")):
        with pytest.raises(NotFound):
            member.get(rid)
        assert member.count(tags=["mine"]) == 0
    # membership is read when a view is made: leaving the group ends the share
    alice.share(rid, group="team-a")
    admin_session.remove_from_group("team-a", "carol")
    with pytest.raises(NotFound):
        admin_session.as_user("carol").get(rid)
    assert admin_session.as_user("bob").get(rid)
    assert bob.scope.groups == () and carol.scope.groups == ()  # views made before the groups


def test_an_editor_changes_tags_description_and_status_never_access_or_existence(
    admin_session: Session,
) -> None:
    alice = admin_session.as_user("alice")
    rid = _private(alice, "alice_edit_i2d.fits")
    alice.share(rid, "bob", role="editor")
    bob = admin_session.as_user("bob")
    assert bob.update(rid, tags=["checked"], description="looked at").tags == ["checked"]
    assert bob.set_status(rid, "processing").processing_status == "processing"
    assert bob.bulk_tags([rid], add=["again"]) == 1
    with pytest.raises(AccessDenied):
        bob.update(rid, file_name="renamed_i2d.fits")
    with pytest.raises(AccessDenied):
        bob.delete(rid)
    with pytest.raises(AccessDenied):
        bob.share(rid, "eve")
    with pytest.raises(AccessDenied):
        bob.unshare(rid, "bob")
    with pytest.raises(ValidationError, match="share"):
        alice.update(rid, shared_with=["eve"])
    # sharing again as a viewer takes the editor role back
    alice.share(rid, "bob", role="viewer")
    with pytest.raises(AccessDenied):
        admin_session.as_user("bob").update(rid, tags=["no"])
    assert admin_session.as_user("bob").get(rid).tags == ["checked", "again"]


def test_a_group_editor_and_bad_share_arguments(admin_session: Session) -> None:
    alice = admin_session.as_user("alice")
    rid = _private(alice, "alice_ged_i2d.fits")
    admin_session.add_to_group("editors-b", "bob")
    alice.share(rid, group="editors-b", role="editor")
    assert admin_session.as_user("bob").update(rid, tags=["group-edit"]).tags == ["group-edit"]
    with pytest.raises(ValidationError, match="role"):
        alice.share(rid, "bob", role="owner")
    with pytest.raises(ValidationError, match="at least one"):
        alice.share(rid)
    with pytest.raises(ValidationError, match="group:"):
        alice.share(rid, "group:sneaky")
    with pytest.raises(AccessDenied):
        alice.add_to_group("editors-b", "alice")
