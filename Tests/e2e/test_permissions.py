"""The permission matrix of product spec §2 swept over the socket: every kind of actor × every endpoint
that acts on an org, each on a fresh org. Expected answers are written here from the spec's table."""
import itertools

import pytest

from service import Service

ROLES = ["owner", "admin", "moderator", "member", "viewer", "billing_manager"]
ACTORS = ROLES + ["suspended", "non-member", "no actor"]

# Spec §2, per role: the plain rows, and the target roles of the two targeted rows.
READ_PROFILE = set(ROLES)
READ_MEMBERS = {"owner", "admin", "moderator", "member", "viewer"}
READ_INVITATIONS = {"owner", "admin", "moderator"}
READ_AUDIT = {"owner", "admin"}
UPDATE_PROFILE = {"owner", "admin"}
KEYS = {"owner", "admin"}
OWNER_ONLY = {"owner"}
TARGETS = {"owner": set(ROLES), "admin": {"moderator", "member", "viewer"}, "moderator": {"member", "viewer"}}

# endpoint name -> (who may, given that the target member or invitation has role "member")
EXPECTED = {
    "read profile": READ_PROFILE,
    "read members": READ_MEMBERS,
    "read one member": READ_MEMBERS,
    "read invitations": READ_INVITATIONS,
    "read audit": READ_AUDIT,
    "list keys": KEYS,
    "update profile": UPDATE_PROFILE,
    "invite a member": {r for r, t in TARGETS.items() if "member" in t},
    "revoke a member's invitation": {r for r, t in TARGETS.items() if "member" in t},
    "change member to viewer": {r for r, t in TARGETS.items() if {"member", "viewer"} <= t},
    "suspend a member": {r for r, t in TARGETS.items() if "member" in t},
    "reinstate a member": {r for r, t in TARGETS.items() if "member" in t},
    "remove a member": {r for r, t in TARGETS.items() if "member" in t},
    "create a key": KEYS,
    "revoke a key": KEYS,
    "rename": OWNER_ONLY,
    "reset auth": OWNER_ONLY,
    "schedule deletion": OWNER_ONLY,
    "cancel deletion": OWNER_ONLY,
}


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("matrix")).wait_ready()
    yield service
    service.stop()


counter = itertools.count()


def setup_org(svc):
    """A fresh org with one member of each role, a suspended member, a target member, a suspended target,
    a pending invitation of role member and an API key."""
    n = next(counter)
    handle, founder = f"org-{n}", f"founder{n}@example.com"
    assert svc.request("POST", "/v1/orgs", {"handle": handle, "display_name": "Matrix"}, actor=founder).status == 201
    people = {role: f"{role.replace('_', '-')}{n}@example.com" for role in ROLES}
    people["suspended"] = f"suspended{n}@example.com"
    people["target"] = f"target{n}@example.com"
    people["suspended-target"] = f"starget{n}@example.com"
    for key, email in people.items():
        role = key if key in ROLES else ("owner" if key == "suspended" else "member")
        invited_as = "admin" if role == "owner" else role
        inv = svc.request("POST", f"/v1/orgs/{handle}/invitations", {"emails": [email], "role": invited_as}, actor=founder).json["invitations"][0]
        assert svc.request("POST", f"/v1/invitations/{inv['id']}/accept", actor=email).status == 200
        if role == "owner":
            assert svc.request("PUT", f"/v1/orgs/{handle}/members/{email}/role", {"role": "owner"}, actor=founder).status == 200
    for key in ["suspended", "suspended-target"]:
        assert svc.request("POST", f"/v1/orgs/{handle}/members/{people[key]}/suspend", actor=founder).status == 200
    pending = svc.request("POST", f"/v1/orgs/{handle}/invitations", {"emails": [f"pending{n}@example.com"], "role": "member"}, actor=founder).json["invitations"][0]
    key = svc.request("POST", f"/v1/orgs/{handle}/api-keys", {"name": "k", "role": "viewer"}, actor=founder).json
    return handle, founder, people, pending["id"], key["id"]


def call(svc, endpoint, handle, people, invitation, key, actor):
    n = handle.split("-")[1]
    target, starget = people["target"], people["suspended-target"]
    requests = {
        "read profile": ("GET", f"/v1/orgs/{handle}", None),
        "read members": ("GET", f"/v1/orgs/{handle}/members", None),
        "read one member": ("GET", f"/v1/orgs/{handle}/members/{target}", None),
        "read invitations": ("GET", f"/v1/orgs/{handle}/invitations", None),
        "read audit": ("GET", f"/v1/orgs/{handle}/audit", None),
        "list keys": ("GET", f"/v1/orgs/{handle}/api-keys", None),
        "update profile": ("PATCH", f"/v1/orgs/{handle}", {"display_name": "Changed"}),
        "invite a member": ("POST", f"/v1/orgs/{handle}/invitations", {"emails": [f"new{n}@example.com"], "role": "member"}),
        "revoke a member's invitation": ("DELETE", f"/v1/orgs/{handle}/invitations/{invitation}", None),
        "change member to viewer": ("PUT", f"/v1/orgs/{handle}/members/{target}/role", {"role": "viewer"}),
        "suspend a member": ("POST", f"/v1/orgs/{handle}/members/{target}/suspend", None),
        "reinstate a member": ("POST", f"/v1/orgs/{handle}/members/{starget}/reinstate", None),
        "remove a member": ("DELETE", f"/v1/orgs/{handle}/members/{target}", None),
        "create a key": ("POST", f"/v1/orgs/{handle}/api-keys", {"name": "mine", "role": "viewer"}),
        "revoke a key": ("DELETE", f"/v1/orgs/{handle}/api-keys/{key}", None),
        "rename": ("POST", f"/v1/orgs/{handle}/handle", {"handle": f"renamed-{n}"}),
        "reset auth": ("POST", f"/v1/orgs/{handle}/auth/reset", None),
        "schedule deletion": ("POST", f"/v1/orgs/{handle}/deletion", {"confirm": handle}),
        "cancel deletion": ("DELETE", f"/v1/orgs/{handle}/deletion", None),
    }
    method, path, body = requests[endpoint]
    return svc.request(method, path, body, actor=actor)


@pytest.mark.parametrize("endpoint", list(EXPECTED))
@pytest.mark.parametrize("actor_kind", ACTORS)
def test_matrix(svc, actor_kind, endpoint):
    handle, founder, people, invitation, key = setup_org(svc)
    if endpoint == "cancel deletion":
        assert svc.request("POST", f"/v1/orgs/{handle}/deletion", {"confirm": handle}, actor=founder).status == 202
    actor = {"non-member": "stranger@example.com", "no actor": None}.get(actor_kind, people.get(actor_kind))
    reply = call(svc, endpoint, handle, people, invitation, key, actor)
    allowed = actor_kind in EXPECTED[endpoint]
    if allowed:
        assert 200 <= reply.status < 300, reply
    elif actor_kind == "no actor":
        assert reply.status == 401, reply
    else:
        assert reply.status == 403, reply
        assert reply.json["reason"] in {"not_permitted", "suspended", "not_a_member"}
