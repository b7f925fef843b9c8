"""What an API key may do: its role, and which routes' roles that role covers.

Every /api route declares the one role it needs (`Api.route(..., role=...)`); a key
carries one role. `admin` covers everything, keys included. `links:write` also reads,
since a key that creates links needs to read them back. Keys stored before roles existed
carry none and are admin keys, as every key was then.
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["admin", "links:write", "read", "events:erase"]

ROLES: tuple[Role, ...] = get_args(Role)
DEFAULT_ROLE: Role = "admin"

_COVERS: dict[Role, frozenset[Role]] = {
    "admin": frozenset(ROLES),
    "links:write": frozenset({"links:write", "read"}),
    "read": frozenset({"read"}),
    "events:erase": frozenset({"events:erase"}),
}


def parse_role(value: object) -> Role:
    """A role by name; ValueError for anything else."""
    for role in ROLES:
        if value == role:
            return role
    raise ValueError(f"role must be one of {', '.join(ROLES)}")


def covers(key_role: Role, needed: Role) -> bool:
    """Whether a key with `key_role` may call a route that needs `needed`."""
    return needed in _COVERS[key_role]
