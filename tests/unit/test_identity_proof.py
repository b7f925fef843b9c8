"""The identity proof (proof.py) and its setting, without AWS."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.core.settings import ConfigError, Settings
from chalicelib.tracking.event_queue import QueuedEvent
from chalicelib.tracking.proof import LinkProof, user_hash


def identify(user_id: str, given: str | None, server_source: bool = False) -> QueuedEvent:
    event: dict[str, object] = {"type": "identify", "user_id": user_id, "user_hash": given,
                                "server_source": server_source}
    return event  # type: ignore[return-value]  # only the fields the proof reads


def test_user_hash_is_hmac_sha256_hex_of_the_user_id() -> None:
    expected = hmac.new(b"s3cret", b"user-42", hashlib.sha256).hexdigest()
    assert user_hash(b"s3cret", "user-42") == expected


def test_only_the_right_hash_proves_a_link() -> None:
    proof = LinkProof(b"s3cret")
    assert proof.proves(identify("u", user_hash(b"s3cret", "u")))
    assert not proof.proves(identify("u", user_hash(b"other", "u")))
    assert not proof.proves(identify("u", user_hash(b"s3cret", "v")))
    assert not proof.proves(identify("u", None))
    assert proof.proves(identify("u", None, server_source=True))


def test_without_a_secret_nothing_but_a_server_source_proves_a_link() -> None:
    proof = LinkProof(b"")
    assert not proof.proves(identify("u", user_hash(b"", "u")))
    assert proof.proves(identify("u", None, server_source=True))
    assert LinkProof(b"", trust_unverified=True).proves(identify("u", None))
    assert "s3cret" not in repr(LinkProof(b"s3cret"))


def test_identity_trust_defaults_to_verified_and_refuses_unknown_values() -> None:
    assert Settings.from_env({}).identity_trust == "verified"
    assert Settings.from_env({"IDENTITY_TRUST": "Unverified"}).identity_trust == "unverified"
    with pytest.raises(ConfigError, match="IDENTITY_TRUST"):
        Settings.from_env({"IDENTITY_TRUST": "everyone"})
