"""`make dev CORS_ORIGINS=...`: a newcomer's own site may post to the local /events, next
to the app's own origins, and nothing else may."""

from __future__ import annotations

from chalicelib.tracking.cors import OriginPolicy
from local.stack import cors_origins


def test_origins_from_the_shell_join_the_app_s_own() -> None:
    joined = cors_origins(8000, " http://localhost:3000, http://127.0.0.1:8000,,")
    assert joined == "http://127.0.0.1:8000,http://localhost:8000,http://localhost:3000"
    assert cors_origins(8010, "") == "http://127.0.0.1:8010,http://localhost:8010"


def test_the_local_policy_lets_exactly_those_origins_post() -> None:
    policy = OriginPolicy(cors_origins(8000, "http://localhost:3000").split(","))
    assert policy.allows("http://localhost:3000") and policy.allows("http://127.0.0.1:8000")
    assert not policy.allows("http://localhost:3001") and not policy.allows("https://evil.test")
