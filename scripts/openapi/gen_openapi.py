"""Writes schemas/openapi.yaml: python3 scripts/openapi/gen_openapi.py schemas/openapi.yaml

The document is generated so that its patterns follow the server's rules exactly (regexes.py spells the
character classes of Sources/OrgDomain/Values/TextRules.swift); edit this file, not the YAML, and
regenerate. Tests/e2e/test_openapi.py and test_schemathesis.py hold the document to the live server."""
import copy, os, sys, yaml
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from regexes import *

REF = lambda kind, name: {"$ref": f"#/components/{kind}/{name}"}
S = lambda name: REF("schemas", name)
P = lambda name: REF("parameters", name)
RESP = lambda name: REF("responses", name)

ORG_ID = "^org_%s{26}$" % BASE32
INV_ID = "^inv_%s{26}$" % BASE32
KEY_ID = "^key_%s{26}$" % BASE32
TIMESTAMP = r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$"
X = char_class(IDENTIFIER_FORBIDDEN, negate=True)[2:-1]   # the set's body, for [^@…] classes
EMAIL = "^[^@%s]+@[^@.%s]+(?:\\.[^@.%s]+)+$" % (X, X, X)
DF = char_class(DISPLAY_FORBIDDEN)[1:-1]
WS = char_class(merge(WHITE_SPACE))
VISIBLE = char_class(visible_ranges())
DISPLAY_TEXT = "^%s*[^%s]*%s[^%s]*%s*$" % (WS, DF, VISIBLE, DF, WS)
AVATAR = "^[hH][tT][tT][pP][sS]://[^/?#@%s]+(?:[/?#][^%s]*)?$" % (X, X)
# Header values as an OpenAPI client sends them (ISO-8859-1 bytes): printable ASCII. (The server also takes UTF-8,
# which a header schema cannot spell; a byte that is not UTF-8 is refused like a control character.)
HEADER_TEXT = "^[ -~]*$"
ACTOR_EMAIL = "^[!-?A-~]+@[!-\\-/-?A-~]+(?:\\.[!-\\-/-?A-~]+)+$"
RESERVED_CI = "^(?:%s)$" % "|".join(case_insensitive(w) for w in RESERVED)
HANDLE_LOWER = "^[a-z0-9]+(?:-[a-z0-9]+)*$"
HANDLE_ANY_CASE = "^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$"

def problem(status, reasons, description, headers=None):
    r = {"description": description,
         "content": {"application/problem+json": {"schema": {"allOf": [S("Problem"), {
             "properties": {"status": {"const": status}, "reason": {"enum": reasons}}}]}}}}
    if headers:
        r["headers"] = headers
    return r


INFO = """The OrgLedger API (product spec section 5): HTTP/1.1 + JSON on a Unix domain socket, e.g. `curl --unix-socket orgledger.sock http://localhost/v1/health`, and optionally on a loopback TCP listener (`--listen 127.0.0.1:PORT`), which answers only requests whose Host is 127.0.0.1, localhost or [::1] (421 otherwise).

This document is as strict as the server: a request it allows is not refused as malformed (400), and one it forbids is refused. Tests/e2e/test_openapi.py checks it names exactly the routes the server registers; Tests/e2e/test_schemathesis.py runs schemathesis against the live service with it. What no schema here can say: `confirm` must equal the org's current handle (400 confirmation_mismatch otherwise); JSON numbers must be spelled as integers (12.0 is 400 malformed_json, though JSON Schema's integer admits it); byte limits are spelled as character counts (the full count for all-ASCII values, a quarter of it otherwise, so some long non-ASCII values the server takes fall outside); a domain label spelled xn-- must be valid punycode; header values are spelled as printable ASCII, which is what an ISO-8859-1 client can send (the server also reads UTF-8 header bytes).

Errors are RFC 9457 problem documents (application/problem+json) with a stable `reason`; `errors: [{field, message}]` names invalid fields. Any path asked with a method it does not answer is 405 with Allow (components/responses/E405); an unknown path is 404 no_such_route; a malformed HTTP request is 400 malformed_http. No input is answered 500. Commands and reads of an org answer with ETag: "<org version>"; commands take If-Match (412 on a mismatch) and Idempotency-Key (24 h replay; 422 for a reused key). The request headers X-Actor, X-Request-Id, X-Client-IP, User-Agent and Idempotency-Key are checked on every request (each at most once, no control or bidi characters): a bad one is 400 on any route.

Patterns spell character sets with literal characters (shown here as YAML escapes) so that every regular-expression dialect reads them alike."""


TIERS = [(1, 0x7F, "all ASCII"), (4, None, "any")]

def byte_bounded(max_bytes, what, make_pattern):
    """At most `max_bytes` bytes of UTF-8, which JSON Schema cannot count (maxLength counts characters): spelled as
    tiers, each with the value's own pattern: all ASCII (1 byte each), or any characters (at most 4 bytes each, also
    after lower-casing). The ASCII tier spells its classes as what is allowed: generators (schemathesis' coverage
    phase) handle a negated class that excludes all of non-ASCII very slowly. (A third tier for the BMP, 3 bytes
    each, made the run minutes longer.)"""
    branches = []
    for width, highest, _ in TIERS:
        branch = {"maxLength": max_bytes // width}
        pattern = make_pattern(highest)
        if pattern:
            branch["pattern"] = pattern
        branches.append(branch)
    return {"anyOf": branches,
            "$comment": "%s: at most %d bytes of UTF-8, spelled as %s." % (what, max_bytes, "; ".join(
                "%s: %d characters" % (name, max_bytes // width) for width, _, name in TIERS))}

def allowed(forbidden, highest):
    """The characters that are not forbidden: a positive class up to `highest`, or a negated class (None)."""
    if highest is None:
        return "[^" + char_class(merge(forbidden))[1:-1] + "]"
    out, cur = [], 0
    for lo, hi in merge(forbidden):
        if lo > highest:
            break
        if lo > cur:
            out.append((cur, lo - 1))
        cur = max(cur, hi + 1)
    if cur <= highest:
        out.append((cur, highest))
    return char_class(out)

def compatibility_forms():
    """Characters NFKC changes (fullwidth letters, ligatures, superscripts, ...): a domain label must be in its one
    spelling, NFKC and lower case (Email.parse, TextRules.domainLabel). Per character, from Python's Unicode data."""
    import unicodedata
    out = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        if unicodedata.normalize("NFKC", c) != unicodedata.normalize("NFC", c):
            if out and out[-1][1] == cp - 1:
                out[-1] = (out[-1][0], cp)
            else:
                out.append((cp, cp))
    return out
COMPATIBILITY = compatibility_forms()

def email_pattern(highest):
    """Trimmed first: white space around the address is allowed and dropped."""
    local = allowed(IDENTIFIER_FORBIDDEN + [R(0x40)], highest)
    label = allowed(IDENTIFIER_FORBIDDEN + [R(0x40), R(0x2E)] + COMPATIBILITY, highest)
    top = 0x10FFFF if highest is None else highest
    space = char_class([(lo, min(hi, top)) for lo, hi in merge(WHITE_SPACE) if lo <= top])
    return "^%s*%s+@%s+(?:\\.%s+)+%s*$" % (space, local, label, label, space)

def avatar_pattern(highest):
    authority = allowed(IDENTIFIER_FORBIDDEN + [R(0x2F), R(0x3F), R(0x23), R(0x40)], highest)
    rest = allowed(IDENTIFIER_FORBIDDEN, highest)
    return "^[hH][tT][tT][pP][sS]://%s+(?:[/?#]%s*)?$" % (authority, rest)

any_text_pattern = lambda highest: ("^%s*$" % allowed([], highest)) if highest is not None else None

components = {"schemas": {}, "parameters": {}, "responses": {}, "headers": {}}
sch = components["schemas"]

# ---- values -------------------------------------------------------------------------------------------------
sch["Role"] = {"type": "string", "enum": ["owner", "admin", "moderator", "billing_manager", "member", "viewer"]}
sch["InviteRole"] = {"type": "string", "enum": ["admin", "moderator", "billing_manager", "member", "viewer"],
    "description": "Any role but owner: owner is never granted by invitation, only by promotion."}
sch["MemberStatus"] = {"type": "string", "enum": ["active", "suspended"]}
sch["InvitationStatus"] = {"type": "string", "enum": ["pending", "accepted", "declined", "revoked", "expired"]}
sch["OrgID"] = {"examples": ["org_9z1p0kehksww8vwtr6zapjtfjm"], "type": "string", "pattern": ORG_ID, "description": "org_ + 26 characters of lower-case Crockford base32."}
sch["UserID"] = {"examples": ["usr_8v745ydajwspn660rya1aw9fgr"], "type": "string", "pattern": "^usr_%s{26}$" % BASE32,
                 "description": "usr_ + 26 characters of lower-case Crockford base32 (the time the user was made, then 80 random bits): a person as events name them (product spec §7)."}
sch["AccountStatus"] = {"type": "string", "enum": ["active", "pending_deletion", "activation_required", "erased"],
                        "description": "The standing of the person's account (product spec §7)."}
sch["InvitationID"] = {"examples": ["inv_2cgqe27cwff61rx5ep40g87xtc"], "type": "string", "pattern": INV_ID, "description": "inv_ + 26 characters of lower-case Crockford base32 (128 random bits)."}
sch["APIKeyID"] = {"examples": ["key_0f3q8r2m4n6p8s1t3v5w7x9yz0"], "type": "string", "pattern": KEY_ID, "description": "key_ + 26 characters of lower-case Crockford base32."}
sch["Timestamp"] = {"type": "string", "format": "date-time", "pattern": TIMESTAMP,
    "description": "RFC 3339 in UTC with exactly three fraction digits, as the service writes every time."}
sch["Handle"] = {"examples": ["acme"], "type": "string", "minLength": 1, "maxLength": 39, "pattern": HANDLE_LOWER,
    "not": {"pattern": RESERVED_CI},
    "description": "A handle as stored: 1-39 of a-z 0-9 and '-', no leading, trailing or double hyphen, not reserved ("
                   + ", ".join(RESERVED) + ")."}
sch["HandleInput"] = {"examples": ["acme-rockets"], "type": "string", "minLength": 1, "maxLength": 39, "pattern": HANDLE_ANY_CASE,
    "not": {"pattern": RESERVED_CI},
    "description": "A handle as a request may spell it: like Handle, but A-Z is accepted and lower-cased (only ASCII is"
                   " lower-cased; anything else outside a-z 0-9 '-' is refused). The reserved names are refused in any case."}
# Inline copies, not $refs: schemathesis 4.32.5 fails on a dictionary-bound parameter whose schema nests $refs.
sch["OrgRef"] = {"anyOf": [{k: v for k, v in sch["OrgID"].items() if k != "examples"},
                           {k: v for k, v in sch["HandleInput"].items() if k != "examples"}],
    "description": "An org id, or a current handle (any case). Anything else, and an id or handle nobody holds, is 404; a"
                   " former handle within its 30-day hold is 308 to the same path with the current handle."}
sch["Email"] = {"examples": ["ada@example.com"], "type": "string", "minLength": 5,
    **byte_bounded(254, "An email", email_pattern),
    "description": "An email as the service normalizes it (trimmed of white space, lower-cased, Unicode NFC): at most 254 bytes of UTF-8"
                   " after normalization (spelled with character counts: 254 if all ASCII, else 63; so a long non-ASCII"
                   " address the server would take can fall outside),"
                   " exactly one '@', a non-empty local part, a domain of at least two non-empty labels; no white space,"
                   " control, format, default-ignorable or bidi character, nor U+FFFD. A domain label must be in its one"
                   " spelling, NFKC and lower case (no fullwidth letters, ligatures or superscripts); one spelled xn--"
                   " must be valid punycode of such a label (it is stored in its Unicode form)."}
sch["ActorEmail"] = {"examples": ["owner@example.com"], "type": "string", "minLength": 5, "maxLength": 254, "pattern": ACTOR_EMAIL,
    "description": "An Email in a header, as an OpenAPI client sends it: printable ASCII (upper case is lower-cased). The server"
                   " also reads UTF-8 header bytes, so an internationalized address can be sent as UTF-8; a byte that is not"
                   " UTF-8 is refused (400)."}
sch["DisplayText"] = {"examples": ["Acme Rockets"], "type": "string", "minLength": 1, "maxLength": 100, "pattern": DISPLAY_TEXT,
    "description": "Trimmed and NFC, then 1-100 characters (grapheme clusters) and at most 1024 bytes of UTF-8; at least one"
                   " visible character (a letter, number, punctuation or symbol that is not default-ignorable); no C0 or C1"
                   " control, line or paragraph separator or bidi control but in the white space trimmed at either end."
                   " (maxLength counts code points before trimming, so a long name padded with white space is"
                   " refused here and taken by the server; and NFC can lengthen a few characters, such as U+1D160, past"
                   " 1024 bytes.)"}
sch["AvatarURL"] = {"examples": ["https://example.com/acme.png"], "type": "string",
    **byte_bounded(2048, "An avatar URL", avatar_pattern),
    "description": "An absolute https URL (the scheme in any case, stored lower-cased) with a host and no user information, at"
                   " most 2048 bytes of UTF-8; no white space, control, format, default-ignorable or bidi character."}

# ---- request bodies -----------------------------------------------------------------------------------------
def obj(props, required=(), **extra):
    o = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        o["required"] = list(required)
    o.update(extra)
    return o

sch["CreateOrg"] = obj({"handle": S("HandleInput"), "display_name": S("DisplayText")}, ["handle", "display_name"])
sch["UpdateOrg"] = obj({"display_name": S("DisplayText"),
                        "avatar_url": {"anyOf": [S("AvatarURL"), {"type": "null"}], "description": "null resets it to the generated default"}},
                       minProperties=1)
sch["Rename"] = obj({"handle": S("HandleInput")}, ["handle"])
sch["ChangeRole"] = obj({"role": S("Role")}, ["role"])
sch["Invite"] = obj({"emails": {"type": "array", "minItems": 1, "maxItems": 100, "items": S("Email"),
                                "description": "1-100 emails; duplicates (after normalization) collapse into one invitation"},
                     "role": S("InviteRole"),
                     "ttl_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 30,
                                  "description": "Days until the invitations expire; 7 when absent or null. A JSON integer: 7.0 is refused."}},
                    ["emails", "role"])
sch["CreateAPIKey"] = obj({"name": S("DisplayText"), "role": S("Role")}, ["name", "role"])
sch["Verify"] = obj({"secret": {"type": "string", "description": "The secret shown once at creation (olk_...); any other string"
                                                                   " answers 401."}}, ["secret"])
sch["Confirm"] = obj({"confirm": dict(S("Handle"), description="The org's current handle, exactly (400 otherwise)")}, ["confirm"])
sch["UpdateMe"] = obj({"name": {"anyOf": [S("DisplayText"), {"type": "null"}], "description": "Display-name rules; null clears it"},
                       "username": {"anyOf": [S("HandleInput"), {"type": "null"}], "description": "Handle rules, unique among users; null clears it"},
                       "avatar_url": {"anyOf": [S("AvatarURL"), {"type": "null"}], "description": "null clears it"}},
                      minProperties=1)
sch["ChangeEmail"] = obj({"email": S("Email")}, ["email"])
sch["ConfirmEmail"] = obj({"confirm": dict(S("Email"), description="The account's current email (any spelling of it; 400 otherwise)")}, ["confirm"])

# ---- response bodies ----------------------------------------------------------------------------------------
nullable = lambda name: {"anyOf": [S(name), {"type": "null"}]}
org_props = {
    "id": S("OrgID"), "handle": S("Handle"), "display_name": {"type": "string", "minLength": 1},
    "avatar_url": {"type": ["string", "null"], "description": "null: the generated default"},
    "status": {"type": "string", "enum": ["active", "pending_deletion"]},
    "auth_epoch": {"type": "integer", "minimum": 0}, "created_at": S("Timestamp"),
    "version": {"type": "integer", "minimum": 1, "description": "The org's stream version; the ETag"},
    "member_count": {"type": "integer", "minimum": 0},
    "purge_at": nullable("Timestamp"), "deletion_scheduled_at": nullable("Timestamp")}
sch["Org"] = obj(org_props, list(org_props))
sch["MyOrg"] = obj(dict(org_props, role=dict(S("Role"), description="The actor's role in the org"),
                        member_status=dict(S("MemberStatus"), description="The actor's membership: active or suspended")),
                   list(org_props) + ["role", "member_status"])
sch["OrgList"] = obj({"orgs": {"type": "array", "items": S("MyOrg")},
                      "next_cursor": {"anyOf": [S("OrgID"), {"type": "null"}], "description": "The last org id of this page, or null"}},
                     ["orgs", "next_cursor"], description="Orgs in order of their id; a Link rel=next header while more follow.")
PERSON = {"type": "string", "description": "A person's current email, or [erased] once their data is erased (product spec §8)"}
member_props = {"email": PERSON, "user_id": S("UserID"), "account_status": S("AccountStatus"), "role": S("Role"), "status": S("MemberStatus"),
                "joined_at": S("Timestamp"),
                "invited_by": {"type": ["string", "null"], "description": "The inviter's current email (or [erased]); null for the org's creator"}}
sch["Member"] = obj(member_props, list(member_props))
sch["MemberPage"] = obj({"members": {"type": "array", "items": S("Member")},
                         "next_cursor": {"anyOf": [S("UserID"), {"type": "null"}], "description": "The last user id of this page, or null"}},
                        ["members", "next_cursor"],
                        description="Members in byte order of their user id, which is the order their accounts were made (an email change does not move it); a Link rel=next header while more follow.")
sch["Removed"] = obj({"removed": {"type": "string", "description": "The member's normalized email"},
                      "event": {"type": "string", "enum": ["member.removed", "member.left"]}}, ["removed", "event"])
inv_props = {"id": S("InvitationID"), "org_id": S("OrgID"), "email": PERSON, "user_id": S("UserID"), "account_status": S("AccountStatus"),
             "role": S("Role"), "invited_by": PERSON, "sent_at": S("Timestamp"), "expires_at": S("Timestamp"), "status": S("InvitationStatus")}
sch["Invitation"] = obj(inv_props, list(inv_props))
sch["InvitationList"] = obj({"invitations": {"type": "array", "items": S("Invitation")}}, ["invitations"])
sch["InvitationPage"] = obj({"invitations": {"type": "array", "items": S("Invitation")},
                             "next_cursor": {"anyOf": [{"type": "string", "pattern": "^-?[0-9]+\\.inv_%s{26}$" % BASE32}, {"type": "null"}],
                                             "description": "<sent_at in ms>.<id> of the last row of this page, or null"}},
                            ["invitations", "next_cursor"],
                            description="Invitations newest first; a Link rel=next header while more follow.")
sch["InvitationAnswer"] = obj({"invitation": S("Invitation"),
                               "member": dict(S("Member"), description="The actor's membership, when the actor is a member"),
                               "org": S("Org")}, ["invitation"])
key_props = {"id": S("APIKeyID"), "org_id": S("OrgID"), "name": {"type": "string", "minLength": 1}, "role": S("Role"),
             "created_by": PERSON, "created_at": S("Timestamp"), "auth_epoch": {"type": "integer", "minimum": 0},
             "status": {"type": "string", "enum": ["active", "revoked", "void"],
                        "description": "active: verifies now. void: not revoked, but it does not verify (void_reason says why; a"
                                       " creator_suspended or creator_demoted key comes back if its creator is reinstated or promoted again)."},
             "void_reason": {"type": ["string", "null"],
                             "enum": ["auth_reset", "creator_left", "creator_suspended", "creator_demoted", "creator_pending_deletion", "org_inactive", None]}}
key_rule = {"if": {"properties": {"status": {"const": "void"}}},
            "then": {"properties": {"void_reason": {"type": "string"}}},
            "else": {"properties": {"void_reason": {"type": "null"}}}}
sch["APIKey"] = obj(key_props, list(key_props), **copy.deepcopy(key_rule))
sch["CreatedAPIKey"] = obj(dict(key_props,
    secret={"anyOf": [{"type": "string", "pattern": "^olk_%s{52}$" % BASE32}, {"type": "null"}],
            "description": "Shown once; null in an Idempotency-Key replay (with secret_redacted: true), since secrets are never stored"},
    secret_redacted={"const": True}), list(key_props) + ["secret"], **copy.deepcopy(key_rule))
sch["APIKeyList"] = obj({"api_keys": {"type": "array", "items": S("APIKey")},
                         "next_cursor": {"anyOf": [S("APIKeyID"), {"type": "null"}], "description": "The last key id of this page, or null"}},
                        ["api_keys", "next_cursor"], description="Keys in order of their id; a Link rel=next header while more follow.")
sch["MyInvitationPage"] = obj({"invitations": {"type": "array", "items": S("Invitation")},
                               "next_cursor": {"anyOf": [S("InvitationID"), {"type": "null"}], "description": "The last invitation id of this page, or null"}},
                              ["invitations", "next_cursor"], description="Invitations in order of their id; a Link rel=next header while more follow.")
user_props = {"id": S("UserID"), "email": PERSON, "status": S("AccountStatus"), "created_at": S("Timestamp"),
              "purge_at": {"anyOf": [S("Timestamp"), {"type": "null"}], "description": "When a scheduled deletion erases the account"},
              "version": {"type": "integer", "minimum": 1, "description": "The user's stream version"},
              "name": {"type": ["string", "null"]}, "username": {"type": ["string", "null"]}, "avatar_url": {"type": ["string", "null"]}}
sch["User"] = obj(user_props, list(user_props), description="An account (product spec §7): personal values in clear while held")
standing_props = {k: user_props[k] for k in ["id", "email", "status", "created_at", "purge_at", "version"]}
sch["UserStanding"] = obj(standing_props, list(standing_props), description="An account's standing, as an operator sees it: no profile values")
sch["Me"] = obj({"user": S("User"), "memberships": {"type": "array", "items": S("MyOrg")}, "memberships_truncated": {"type": "boolean"},
                 "invitations": {"type": "array", "items": S("Invitation")}, "invitations_truncated": {"type": "boolean"}},
                ["user", "memberships", "memberships_truncated", "invitations", "invitations_truncated"],
                description="At most 1000 memberships and pending invitations; *_truncated says more exist (GET /v1/orgs, GET /v1/invitations page them)")
sch["Verified"] = obj({"org": S("OrgID"), "handle": S("Handle"), "key_id": S("APIKeyID"), "role": S("Role")},
                      ["org", "handle", "key_id", "role"])
sch["AuthReset"] = obj({"auth_epoch": {"type": "integer", "minimum": 1},
                        "voided_keys": {"type": "array", "items": S("APIKeyID")}}, ["auth_epoch", "voided_keys"])
sch["Commitment"] = obj({"c": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}, ["c"],
                        description="A personal value as the log holds it: SHA-256(\"orgledger/pii/v1\\n\" ‖ salt ‖ value), product spec §8")
sch["EventMeta"] = obj({"request_id": {"type": "string"}, "client_ip": S("Commitment"), "user_agent": S("Commitment"),
                        "idempotency_key": {"type": "string"}, "via": {"const": "scim"}},
                       description="The request context recorded with the event; only what was sent")
sch["AuditEvent"] = obj({"seq": {"type": "integer", "minimum": 1}, "at": S("Timestamp"),
                         "actor": {"type": "string", "description": "The actor's current email, [erased], or system"},
                         "actor_id": dict(S("UserID"), description="The actor's user id (absent for system)"),
                         "action": {"type": "string", "description": "The event type"},
                         "target": {"type": ["string", "null"], "description": "What the event acts on (a person's current email or [erased], key id, handle, org id)"},
                         "target_id": dict(S("UserID"), description="The target's user id, when the target is a person"),
                         "data": {"type": "object", "description": "The event's data; a person named by user_id gets email beside it"},
                         "meta": S("EventMeta")},
                        ["seq", "at", "actor", "action", "target", "data", "meta"])
sch["AuditPage"] = obj({"events": {"type": "array", "items": S("AuditEvent")},
                        "next_cursor": {"anyOf": [{"type": "string", "pattern": "^[1-9][0-9]*$"}, {"type": "null"}],
                                        "description": "The seq of the last event of this page, or null"}},
                       ["events", "next_cursor"])
sch["Health"] = obj({"status": {"const": "ok"}, "head_seq": {"type": "integer", "minimum": 0},
                     "head_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                     "writes": {"type": "boolean",
                                "description": "Whether this instance takes commands now: false on a PostgreSQL follower, which answers them 503 not_writer"}},
                    ["status", "head_seq", "head_hash", "writes"])
sch["Problem"] = obj({
    "type": {"type": "string", "pattern": "^urn:orgledger:problem:[a-z_]+$", "description": "urn:orgledger:problem:<reason>"},
    "title": {"type": "string", "description": "The status's reason phrase"},
    "status": {"type": "integer", "minimum": 300, "maximum": 599},
    "detail": {"type": "string"},
    "reason": {"type": "string", "pattern": "^[a-z_]+$", "description": "Stable and machine-readable: last_owner, handle_taken, version_mismatch, ..."},
    "errors": {"type": "array", "minItems": 1, "description": "The invalid fields (400 invalid_input, confirmation_mismatch)",
               "items": obj({"field": {"type": "string"}, "message": {"type": "string"}}, ["field", "message"])},
    "orgs": {"type": "array", "minItems": 1, "items": S("Handle"), "description": "409 sole_owner: the orgs whose last active owner the account is"}},
    ["type", "title", "status", "detail", "reason"],
    description="An RFC 9457 problem document")

# ---- headers ------------------------------------------------------------------------------------------------
hdr = components["headers"]
hdr["ETag"] = {"description": "The org's version, quoted: \"<version>\"", "required": True,
               "schema": {"type": "string", "pattern": "^\"[0-9]+\"$"}}
hdr["Link"] = {"description": "<same path and query with the next cursor>; rel=\"next\" -- only while more rows follow",
               "required": False, "schema": {"type": "string", "pattern": "^<[^>]+>; rel=\"next\"$"}}
hdr["IdempotentReplayed"] = {"description": "true on a response replayed for a repeated Idempotency-Key", "required": False,
                             "schema": {"type": "string", "const": "true"}}
hdr["Location"] = {"description": "The same path and query with the current handle", "required": True, "schema": {"type": "string"}}
hdr["Allow"] = {"description": "The methods this path answers", "required": True,
                "schema": {"type": "string", "pattern": "^[A-Z]+(?:, [A-Z]+)*$"}}

# ---- parameters ---------------------------------------------------------------------------------------------
par = components["parameters"]
par["Actor"] = {"name": "X-Actor", "in": "header", "required": True,
    "description": "Who acts: an email, normalized like any email; exactly once. Missing or empty: 401. `system` (any case or"
                   " spacing) cannot be claimed: 403. The socket's permissions are the gate; the actor is asserted by the caller.",
    "schema": S("ActorEmail"), "example": "owner@example.com"}
par["RequestId"] = {"name": "X-Request-Id", "in": "header", "required": False,
    "description": "Recorded in the events' meta. At most once, at most 512 bytes; no C0 or C1 control, DEL, U+2028/U+2029 or"
                   " bidi control, and no byte that is not UTF-8 (400); the pattern spells what an ISO-8859-1 client can send,"
                   " printable ASCII (the server also takes those characters as UTF-8). Empty counts as not sent. Checked on"
                   " every request, like User-Agent.",
    "schema": {"type": "string", "maxLength": 512, "pattern": HEADER_TEXT, "examples": ["req-7f3a"]}}
par["ClientIP"] = {"name": "X-Client-IP", "in": "header", "required": False,
    "description": "Recorded in the events' meta: an IPv4 or IPv6 address as inet_pton(3) reads it (400 otherwise); empty counts as"
                   " not sent. Checked on every request.",
    "schema": {"type": "string", "pattern": "^(?:|%s|%s)$" % (IPV4, IPV6), "examples": ["192.0.2.10"]}}
par["IdempotencyKey"] = {"name": "Idempotency-Key", "in": "header", "required": False,
    "description": "1-255 printable ASCII characters (400 otherwise, empty included). The same actor, key, method, path and body"
                   " within 24 h: the first response again, a refusal's problem document included (Idempotent-Replayed: true), no new"
                   " event; the same key with another"
                   " request: 422 idempotency_key_reused, nothing written.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~](?:[ -~]*[!-~])?$", "examples": ["retry-8c1d"]}}
par["IfMatch"] = {"name": "If-Match", "in": "header", "required": False,
    "description": "The org version (ETag) the caller saw: \"3\", W/\"3\" or 3 (the server also tolerates unbalanced quotes, a"
                   " leading + or zeros, and -0). Another version answers 412 and writes nothing; `*` and lists are refused"
                   " (400); an empty value counts as not sent.",
    "schema": {"type": "string", "pattern": "^[ \t]*(?:(?:W/)?\"*%s\"*)?[ \t]*$" % SWIFT_UINT64}}
par["Org"] = {"example": "acme", "name": "org", "in": "path", "required": True, "schema": S("OrgRef"),
    "description": "An org id (org_...) or its current handle; a former handle within its 30-day hold answers 308."}
par["Email"] = {"example": "ada@example.com", "name": "email", "in": "path", "required": True, "schema": S("Email"),
    "description": "A member's email, percent-encoded as any path segment; normalized like any email (400 if it is none)."}
par["MemberName"] = {"example": "ada@example.com", "name": "email", "in": "path", "required": True,
    # The two schemas are copied in, not referenced: schemathesis 4.32 cannot resolve a $ref nested in a
    # parameter's anyOf when a dictionary binds that parameter (its analysis stops with an internal error).
    "schema": {"anyOf": [dict(sch["Email"]), dict(sch["UserID"])]},
    "description": "A member's email (as for every member route) or their user id: the one way to name an erased user."}
par["InvitationID"] = {"name": "id", "in": "path", "required": True, "schema": S("InvitationID"),
    "description": "An invitation id; anything of another shape is 404."}
par["APIKeyID"] = {"name": "id", "in": "path", "required": True, "schema": S("APIKeyID"),
    "description": "An API key id; anything of another shape is 404."}
par["AsOf"] = {"name": "as_of", "in": "query", "required": False,
    "description": "A seq (a decimal up to 18446744073709551615, as Swift's UInt64 reads it) or an RFC 3339 time (years"
                   " 0001-9999, real dates, seconds 00-59, Z or an offset): the view exactly as it was after that event."
                   " 404 if the org (or member) did not exist then.",
    "schema": {"type": "string", "pattern": "^(?:%s|%s)$" % (SWIFT_UINT64, RFC3339), "examples": ["2", "2026-01-01T00:00:00Z"]}}
par["Limit"] = {"name": "limit", "in": "query", "required": False, "description": "Rows per page",
    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}
par["MembersCursor"] = {"name": "cursor", "in": "query", "required": False,
    "description": "The next_cursor of the previous page (the last user id): rows after it in byte order; anything else is 400.",
    "schema": S("UserID")}
par["InvitationsCursor"] = {"name": "cursor", "in": "query", "required": False,
    "description": "The next_cursor of the previous page: <sent_at in ms>.<invitation id>.",
    "schema": {"type": "string", "pattern": "^%s\\.inv_%s{26}$" % (SWIFT_INT64, BASE32), "examples": ["1764563617957.inv_2cgqe27cwff61rx5ep40g87xtc"]}}
for name, ref, what in (("OrgsCursor", "OrgID", "org"), ("MyInvitationsCursor", "InvitationID", "invitation"), ("APIKeysCursor", "APIKeyID", "key")):
    par[name] = {"name": "cursor", "in": "query", "required": False,
                 "description": f"The next_cursor of the previous page: the last {what} id; rows after it in id order.", "schema": S(ref)}
par["AuditCursor"] = {"name": "cursor", "in": "query", "required": False,
    "description": "The next_cursor of the previous page: a seq; events before it.",
    "schema": {"type": "string", "pattern": "^%s$" % SWIFT_UINT64_POSITIVE, "examples": ["42"]}}

# ---- responses ----------------------------------------------------------------------------------------------
rs = components["responses"]
rs["E308"] = problem(308, ["handle_moved"], "A former handle within its 30-day hold: the same request at the current handle (Location)",
                     {"Location": REF("headers", "Location")})
rs["E400"] = problem(400, ["invalid_input", "confirmation_mismatch", "malformed_json", "malformed_http", "http_error"],
    "Malformed or invalid: the body, a path or query parameter, or a request header (X-Actor, X-Request-Id, X-Client-IP,"
    " User-Agent, Idempotency-Key, If-Match, checked on every request); errors names the fields")
rs["E401"] = problem(401, ["no_actor"], "No actor: X-Actor is missing or empty")
rs["E401Key"] = problem(401, ["invalid_key"], "The secret does not verify (unknown, revoked, reset, its creator gone, or the org not active)")
rs["E403"] = problem(403, ["system_actor", "not_a_member", "suspended", "not_permitted", "cannot_raise_own_role", "not_invitee",
                           "account_pending_deletion", "activation_required", "not_operator"],
                     "Not allowed for the actor's role or standing (or the actor claims to be system)")
rs["E404"] = problem(404, ["not_found", "org_not_found", "member_not_found", "invitation_not_found", "api_key_not_found", "user_not_found", "no_such_route"],
                     "Unknown org, member, invitation, key or user (or, for as_of, one that did not exist then)")
rs["E405"] = problem(405, ["method_not_allowed"], "Any documented path asked with a method it does not answer (HEAD and OPTIONS included)",
                     {"Allow": REF("headers", "Allow")})
rs["E409"] = problem(409, ["org_exists", "handle_taken", "last_owner", "pending_deletion", "not_pending_deletion", "already_member",
                           "already_suspended", "not_suspended", "key_revoked", "too_many_api_keys", "email_taken", "username_taken",
                           "sole_owner", "not_activation_required"],
                     "Conflicts with the current state (last owner, handle taken, pending deletion, ...)")
rs["E410"] = problem(410, ["invitation_expired", "invitation_not_pending"], "The invitation expired or was already accepted, declined or revoked")
rs["E412"] = problem(412, ["version_mismatch"], "If-Match names another version; nothing was written (ETag: the current one)",
                     {"ETag": REF("headers", "ETag")})
rs["E413"] = problem(413, ["body_too_large"], "The body is larger than 1 MiB")
rs["E415"] = problem(415, ["unsupported_media_type"], "The body is not application/json (or application/*+json)")
rs["E421"] = problem(421, ["host_not_allowed"], "Only on the loopback TCP listener (--listen): the Host is not 127.0.0.1, localhost or [::1] with its port")
rs["E422"] = problem(422, ["idempotency_key_reused"], "The Idempotency-Key was used within 24 hours for another request; nothing was written")
rs["E507"] = problem(507, ["disk_full"], "The disk is full; nothing was written (reads keep working)")

# ---- operations ---------------------------------------------------------------------------------------------
ETAG = {"ETag": REF("headers", "ETag")}
def ok(description, schema=None, headers=None, media="application/json"):
    r = {"description": description}
    if schema is not None:
        r["content"] = {media: {"schema": schema}}
    if headers:
        r["headers"] = headers
    return r

def operation(op_id, summary, *, params=(), actor=True, org=False, command=False, body=None, success, errors=(), if_match=True):
    parameters = []
    if actor:
        parameters.append(P("Actor"))
    if org:
        parameters.append(P("Org"))
    parameters += list(params)
    codes = {"400", "421"}
    if actor:
        codes |= {"401", "403"}
    if org:
        codes |= {"308", "404"}
    if command:
        parameters += [P("RequestId"), P("ClientIP"), P("IdempotencyKey")] + ([P("IfMatch")] if if_match else [])
        codes |= {"409", "422", "507"} | ({"412"} if if_match else set())
    if body:
        codes |= {"413", "415"}
    codes |= set(errors)
    responses = dict(success)
    for code in sorted(codes):
        responses[code] = RESP("E" + code)
    if command:
        for code, r in success.items():
            r.setdefault("headers", {})["Idempotent-Replayed"] = REF("headers", "IdempotentReplayed")
    op = {"operationId": op_id, "summary": summary}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": S(body)}}}
    op["responses"] = responses
    return op

paths = {}
paths["/v1/orgs"] = {
    "post": operation("createOrg", "Create an org; the actor becomes its owner", command=True, body="CreateOrg",
                      success={"201": ok("The new org", S("Org"), dict(ETAG))}),
    "get": operation("listMyOrgs", "The orgs the actor belongs to, with its role, paged", params=[P("Limit"), P("OrgsCursor")],
                     success={"200": ok("A page of orgs", S("OrgList"), {"Link": REF("headers", "Link")})}),
}
paths["/v1/orgs/{org}"] = {
    "get": operation("getOrg", "An org's profile, now or as of a seq or time", org=True, params=[P("AsOf")],
                     success={"200": ok("The org", S("Org"), dict(ETAG))}),
    "patch": operation("updateOrg", "Update the display name and/or avatar", org=True, command=True, body="UpdateOrg",
                       success={"200": ok("The org", S("Org"), dict(ETAG))}),
}
paths["/v1/orgs/{org}/handle"] = {
    "post": operation("renameOrg", "Rename the handle (the old one is held 30 days)", org=True, command=True, body="Rename",
                      success={"200": ok("The org", S("Org"), dict(ETAG))})}
paths["/v1/orgs/{org}/members"] = {
    "get": operation("listMembers", "The member list, paged", org=True, params=[
        P("AsOf"),
        {"name": "role", "in": "query", "required": False, "description": "Only this role", "schema": S("Role")},
        {"name": "status", "in": "query", "required": False, "description": "Only this status", "schema": S("MemberStatus")},
        P("Limit"), P("MembersCursor")],
        success={"200": ok("A page of members", S("MemberPage"), dict(ETAG, Link=REF("headers", "Link")))})}
paths["/v1/orgs/{org}/members/{email}"] = {
    "get": operation("getMember", "One member, now or as of a seq or time; with proof=true, and the evidence that makes the answer checkable offline", org=True,
                     params=[P("MemberName"), P("AsOf"),
                             {"name": "proof", "in": "query", "required": False,
                              "description": "true: answer {member, proof} (product spec section 9; README, Evidence an auditor can pin)",
                              "schema": {"type": "string", "enum": ["true", "false"], "default": "false"}}],
                     success={"200": ok("The member, or with proof=true the member and its proof", {"oneOf": [S("Member"), S("ProvableMember")]}, dict(ETAG))}),
    "delete": operation("removeMember", "Remove a member (oneself: leave)", org=True, command=True, params=[P("Email")],
                        success={"200": ok("Removed", S("Removed"), dict(ETAG))}),
}
paths["/v1/orgs/{org}/members/{email}/role"] = {
    "put": operation("changeRole", "Change a member's role", org=True, command=True, params=[P("Email")], body="ChangeRole",
                     success={"200": ok("The member", S("Member"), dict(ETAG))})}
paths["/v1/orgs/{org}/members/{email}/suspend"] = {
    "post": operation("suspendMember", "Suspend a member (the role is kept)", org=True, command=True, params=[P("Email")],
                      success={"200": ok("The member", S("Member"), dict(ETAG))})}
paths["/v1/orgs/{org}/members/{email}/reinstate"] = {
    "post": operation("reinstateMember", "Reinstate a suspended member", org=True, command=True, params=[P("Email")],
                      success={"200": ok("The member", S("Member"), dict(ETAG))})}
paths["/v1/orgs/{org}/invitations"] = {
    "post": operation("invite", "Invite up to 100 emails with one role, all or nothing", org=True, command=True, body="Invite",
                      success={"201": ok("The invitations sent", S("InvitationList"), dict(ETAG))}),
    "get": operation("listInvitations", "An org's invitations, newest first, paged", org=True, params=[
        {"name": "status", "in": "query", "required": False, "description": "Only this status", "schema": S("InvitationStatus")},
        P("Limit"), P("InvitationsCursor")],
        success={"200": ok("A page of invitations", S("InvitationPage"), dict(ETAG, Link=REF("headers", "Link")))}),
}
paths["/v1/orgs/{org}/invitations/{id}"] = {
    "delete": operation("revokeInvitation", "Revoke a pending invitation", org=True, command=True, params=[P("InvitationID")],
                        errors=["410"], success={"200": ok("The invitation", S("Invitation"), dict(ETAG))})}
paths["/v1/invitations"] = {
    "get": operation("myInvitations", "Pending invitations addressed to the actor, paged", params=[P("Limit"), P("MyInvitationsCursor")],
                     success={"200": ok("A page of invitations", S("MyInvitationPage"), {"Link": REF("headers", "Link")})})}
paths["/v1/invitations/{id}/accept"] = {
    "post": operation("acceptInvitation", "Accept an invitation (the invitee only)", command=True, params=[P("InvitationID")],
                      errors=["404", "410"], success={"200": ok("Accepted: the invitation, the membership and the org", S("InvitationAnswer"), dict(ETAG))})}
paths["/v1/invitations/{id}/decline"] = {
    "post": operation("declineInvitation", "Decline an invitation (the invitee only)", command=True, params=[P("InvitationID")],
                      errors=["404", "410"], success={"200": ok("Declined", S("InvitationAnswer"), dict(ETAG))})}
paths["/v1/orgs/{org}/api-keys"] = {
    "post": operation("createAPIKey", "Create an API key; its secret is in this response only", org=True, command=True, body="CreateAPIKey",
                      success={"201": ok("The key with its secret", S("CreatedAPIKey"), dict(ETAG))}),
    "get": operation("listAPIKeys", "An org's API keys (never their secrets), paged", org=True, params=[P("Limit"), P("APIKeysCursor")],
                     success={"200": ok("A page of keys", S("APIKeyList"), dict(ETAG, Link=REF("headers", "Link")))}),
}
paths["/v1/orgs/{org}/api-keys/{id}"] = {
    "delete": operation("revokeAPIKey", "Revoke an API key", org=True, command=True, params=[P("APIKeyID")],
                        success={"200": ok("The key", S("APIKey"), dict(ETAG))})}
paths["/v1/auth/verify"] = {
    "post": operation("verifyKey", "Verify an API key secret (no actor needed)", actor=False, body="Verify",
                      success={"200": ok("The key verifies", S("Verified")), "401": RESP("E401Key")})}
paths["/v1/orgs/{org}/auth/reset"] = {
    "post": operation("resetAuth", "Reset authentication: void every key issued before now", org=True, command=True,
                      success={"200": ok("The new epoch and the voided keys", S("AuthReset"), dict(ETAG))})}
paths["/v1/orgs/{org}/deletion"] = {
    "post": operation("scheduleDeletion", "Schedule deletion (type the handle to confirm); purged after 30 days", org=True, command=True,
                      body="Confirm", success={"202": ok("The org, pending deletion, with purge_at", S("Org"), dict(ETAG))}),
    "delete": operation("cancelDeletion", "Cancel a scheduled deletion", org=True, command=True,
                        success={"200": ok("The org", S("Org"), dict(ETAG))}),
}
account = dict(command=True, if_match=False)
paths["/v1/me"] = {
    "get": operation("getMe", "The actor's account: profile, memberships, pending invitations (reads make no user: 404)", errors=["404"],
                     success={"200": ok("The account", S("Me"))}),
    "patch": operation("updateMe", "Update the actor's profile (the first command of a new email makes its user)", body="UpdateMe", **account,
                       success={"200": ok("The account", S("User"))}),
}
paths["/v1/me/email"] = {
    "post": operation("changeMyEmail", "Change the actor's email; memberships, keys and invitations follow (another user's email: 409)",
                      body="ChangeEmail", errors=["404"], **account, success={"200": ok("The account", S("User"))})}
paths["/v1/me/deletion"] = {
    "post": operation("scheduleMyDeletion", "Schedule the account's deletion (type the email to confirm); erased after 30 days; 409 sole_owner lists the orgs",
                      body="ConfirmEmail", errors=["404"], **account, success={"202": ok("The account, pending deletion, with purge_at", S("User"))}),
    "delete": operation("cancelMyDeletion", "Cancel the account's scheduled deletion", errors=["404"], **account,
                        success={"200": ok("The account", S("User"))}),
}
paths["/v1/admin/users/{email}"] = {
    "get": operation("getUserStanding", "An account's standing (operators only)", params=[P("Email")], errors=["404"],
                     success={"200": ok("The account's standing", S("UserStanding"))})}
paths["/v1/admin/users/{email}/activate"] = {
    "post": operation("activateUser", "Activate an account made for an erased email (operators only)", params=[P("Email")], errors=["404"], **account,
                      success={"200": ok("The account", S("User"))})}
rfc3339_query = lambda name, d: {"name": name, "in": "query", "required": False, "description": d,
                                 "schema": {"type": "string", "pattern": "^%s$" % RFC3339, "examples": ["2026-01-01T00:00:00Z"]}}
paths["/v1/orgs/{org}/audit"] = {
    "get": operation("audit", "The audit log, newest first, with cursor paging", org=True, params=[
        rfc3339_query("since", "At or after this RFC 3339 time"),
        rfc3339_query("until", "Before this RFC 3339 time"),
        {"name": "actor", "in": "query", "required": False, "description": "Only this actor (compared lower-cased)", "schema": {"type": "string"}},
        {"name": "action", "in": "query", "required": False, "description": "Only this event type", "schema": {"type": "string"}},
        {"name": "target", "in": "query", "required": False, "description": "Only this target (email, key id, handle, org id)", "schema": {"type": "string"}},
        P("Limit"), P("AuditCursor"),
        {"name": "format", "in": "query", "required": False, "description": "json (default), ndjson or csv",
         "schema": {"type": "string", "enum": ["json", "ndjson", "csv"], "default": "json"}}],
        success={"200": {"description": "Audit events", "headers": {"Link": REF("headers", "Link")},
                         "content": {"application/json": {"schema": S("AuditPage")},
                                     "application/x-ndjson": {"schema": {"type": "string"}},
                                     "text/csv": {"schema": {"type": "string"}}}}})}
paths["/v1/events"] = {
    "get": operation("events", "The raw log as NDJSON envelopes with hashes (no actor needed)", actor=False, params=[
        {"name": "after", "in": "query", "required": False, "description": "Only events with a greater seq",
         "schema": {"type": "integer", "minimum": 0, "maximum": 2**64 - 1, "default": 0}},
        {"name": "limit", "in": "query", "required": False, "description": "Events per page",
         "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}}],
        success={"200": ok("One envelope per line (schemas/envelope.schema.json)", {"type": "string"},
                           {"Link": REF("headers", "Link")}, media="application/x-ndjson")})}
paths["/v1/health"] = {
    "get": operation("health", "Liveness, the head of the log, and whether this instance writes (no actor needed)", actor=False,
                     success={"200": ok("OK", S("Health"))})}
paths["/metrics"] = {
    "get": operation("metrics", "Prometheus metrics (no actor needed)", actor=False,
                     success={"200": ok("Prometheus text format 0.0.4", {"type": "string"}, media="text/plain")})}

# ---- Evidence (product spec section 9): the log as a transparency log, C2SP tlog-tiles layout -------------------
components["schemas"]["Base64Hash"] = {"type": "string", "pattern": "^[A-Za-z0-9+/]{43}=$", "description": "A SHA-256 tree hash, base64"}
components["schemas"]["InclusionProof"] = obj({
    "seq": {"type": "integer", "minimum": 1}, "leaf_index": {"type": "integer", "minimum": 0, "description": "seq - 1"},
    "tree_size": {"type": "integer", "minimum": 1},
    "hashes": {"type": "array", "items": S("Base64Hash"), "description": "The RFC 9162 audit path, leaf side first"}},
    required=("seq", "leaf_index", "tree_size", "hashes"))
components["schemas"]["ConsistencyProof"] = obj({
    "from": {"type": "integer", "minimum": 1}, "to": {"type": "integer", "minimum": 1},
    "hashes": {"type": "array", "items": S("Base64Hash"), "description": "The RFC 9162 consistency proof"}},
    required=("from", "to", "hashes"))
PROVED_EVENT = obj({
    "seq": {"type": "integer", "minimum": 1}, "event": {"type": "string", "description": "The export line (schemas/envelope.schema.json, with hash)"},
    "hashes": {"type": "array", "items": S("Base64Hash"), "description": "Its RFC 9162 audit path in the checkpoint's tree"}},
    required=("seq", "event", "hashes"))
components["schemas"]["ProvableMember"] = obj({
    "member": S("Member"),
    "proof": obj({
        "checkpoint": {"type": "string", "description": "A signed note (C2SP), signed for the occasion"},
        "tree_size": {"type": "integer", "minimum": 1},
        "events": {"type": "array", "items": PROVED_EVENT, "description": "Every event of the org's stream the answer folds, versions 1..n"},
        "next": {"oneOf": [PROVED_EVENT, {"type": "null"}], "description": "The stream's next event (version n+1), if any"},
        "naming": {"type": "array", "items": PROVED_EVENT, "description": "The user's user.created and user.email_changed: their email commitments"},
        "disclosures": {"type": "array", "items": obj({
            "seq": {"type": "integer", "minimum": 1}, "field": {"type": "string"}, "salt": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "value": {"type": "string"}}, required=("seq", "field", "salt", "value")),
            "description": "The values opening those commitments, while held (none once the user is erased)"}},
        required=("checkpoint", "tree_size", "events", "next", "naming", "disclosures"))},
    required=("member", "proof"))
def tree_size_param(name, description, required):
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**62}}
paths["/v1/log/checkpoint"] = {
    "get": operation("checkpoint", "The latest signed checkpoint: a C2SP tlog-checkpoint (origin, tree size, base64 root) as a C2SP signed note, "
                     "Ed25519, signed at least once a second while the log grows; check it with the key of `orgledger checkpoint-key`",
                     actor=False, success={"200": ok("The signed note", {"type": "string"}, media="text/plain")}, errors=["404"])}
paths["/v1/log/tile/{tile}"] = {
    "get": operation("tile", "A tile as C2SP tlog-tiles lays them out (height 8); immutable once it exists", actor=False, params=[
        {"name": "tile", "in": "path", "required": True,
         "description": "Several segments (OpenAPI has no parameter that spans them): `<L>/<N>[.p/<W>]` (the hashes at tree level 8L, "
                        "256 from index 256N, or W of them) or `entries/<N>[.p/<W>]` (the entries: each event's canonical bytes after a "
                        "big-endian uint16 length); N in three-digit groups, all but the last prefixed x (x001/234)",
         "schema": {"type": "string"}}],
        success={"200": ok("The tile's bytes", {"type": "string"}, media="application/octet-stream")}, errors=["404"])}
paths["/v1/proofs/inclusion"] = {
    "get": operation("inclusionProof", "The RFC 9162 inclusion proof of one event in a tree size", actor=False, params=[
        tree_size_param("seq", "The event's seq (leaf index seq - 1)", True),
        tree_size_param("size", "The tree size (default: the latest checkpoint's)", False)],
        success={"200": ok("The proof", S("InclusionProof"))}, errors=["404"])}
paths["/v1/proofs/consistency"] = {
    "get": operation("consistencyProof", "The RFC 9162 consistency proof between two tree sizes", actor=False, params=[
        tree_size_param("from", "The smaller tree size", True),
        tree_size_param("to", "The larger tree size (default: the latest checkpoint's)", False)],
        success={"200": ok("The proof", S("ConsistencyProof"))}, errors=["404"])}

# ---- SCIM 2.0 (product spec section 10) ---------------------------------------------------------------------
# RFC 7643/7644 at /scim/v2 for identity providers. Bearer authentication with an org API key of role admin or
# owner; bodies and answers are application/scim+json (application/json accepted); errors are RFC 7644 error
# documents, not problem documents. The RFCs, not this document, are the contract of these routes: the two SCIM
# conformance testers of Tests/e2e/test_scim.py hold the server to them, so schemathesis does not run here.
SCIM_MEDIA = "application/scim+json"
sch["ScimError"] = obj({
    "schemas": {"type": "array", "items": {"const": "urn:ietf:params:scim:api:messages:2.0:Error"}, "minItems": 1, "maxItems": 1},
    "status": {"type": "string", "pattern": "^[1-5][0-9]{2}$", "description": "The HTTP status, as a string (RFC 7644 section 3.12)"},
    "scimType": {"enum": ["invalidFilter", "tooMany", "uniqueness", "mutability", "invalidSyntax", "invalidPath", "noTarget", "invalidValue"]},
    "detail": {"type": "string"},
}, required=["schemas", "status", "detail"])
sch["ScimMeta"] = obj({
    "resourceType": {"type": "string"}, "created": {"type": "string"}, "lastModified": {"type": "string"},
    "location": {"type": "string"}, "version": {"type": "string", "pattern": '^W/"[0-9]+"$', "description": "W/\"<version>\": the ETag"},
})
sch["ScimUser"] = {"type": "object", "required": ["schemas", "userName"], "description": (
    "A member of the key's org. id is the user id; userName is any string, unique in the org case-insensitively, set once; "
    "the email is emails[primary].value (else userName, if it is an email) and changes only through the user's own account "
    "(a PUT's emails are not applied; a PATCH that changes them is 400 mutability); active false suspends, true reinstates; "
    "externalId, displayName and name are kept per org as personal values. groups (read-only) is the member's role. "
    "Attributes OrgLedger does not keep are accepted and not kept."),
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}, "contains": {"const": "urn:ietf:params:scim:schemas:core:2.0:User"}},
        "id": {"type": "string", "readOnly": True}, "externalId": {"type": "string"}, "userName": {"type": "string"},
        "displayName": {"type": "string"},
        "name": {"type": "object", "properties": {k: {"type": "string"} for k in ("formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix")}},
        "emails": {"type": "array", "items": {"type": "object", "properties": {"value": {"type": "string"}, "type": {"type": "string"}, "primary": {"type": ["boolean", "string"]}}}},
        "active": {"type": ["boolean", "string"], "description": "A boolean; \"True\"/\"False\" strings are taken (Entra ID)"},
        "groups": {"type": "array", "readOnly": True, "items": {"type": "object"}},
        "meta": dict(S("ScimMeta"), readOnly=True),
    }}
sch["ScimGroup"] = {"type": "object", "required": ["schemas", "id", "displayName"], "description": (
    "A role of the key's org: the groups are fixed (owner, admin, moderator, billing_manager, member, viewer). Adding a member "
    "moves them to the group's role; removing one moves them back to member; each under every rule of section 2."),
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}}, "id": {"type": "string"}, "displayName": {"type": "string"},
        "members": {"type": "array", "items": {"type": "object", "properties": {"value": {"type": "string"}, "display": {"type": "string"}, "$ref": {"type": "string"}, "type": {"type": "string"}}}},
        "meta": S("ScimMeta"),
    }}
sch["ScimListResponse"] = obj({
    "schemas": {"type": "array", "items": {"const": "urn:ietf:params:scim:api:messages:2.0:ListResponse"}},
    "totalResults": {"type": "integer", "minimum": 0}, "startIndex": {"type": "integer", "minimum": 1},
    "itemsPerPage": {"type": "integer", "minimum": 0}, "Resources": {"type": "array", "items": {"type": "object"}},
}, required=["schemas", "totalResults", "Resources"])
sch["ScimPatchOp"] = {"type": "object", "required": ["schemas", "Operations"], "description": (
    "RFC 7644 section 3.5.2: op add, remove or replace in any case; with or without a path; a path-less add or replace "
    "takes an object of attributes. Paths: userName, emails (unchanged only), active, externalId, displayName, name, "
    "name.<part>; for groups members and members[value eq \"<user id>\"]. At most 1000 operations, all or nothing for a user."),
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}},
        "Operations": {"type": "array", "maxItems": 1000, "items": {"type": "object", "required": ["op"], "properties": {"op": {"type": "string"}, "path": {"type": "string"}, "value": {}}}},
    }}
for code, what in [("400", "Invalid input, filter or syntax (scimType says which)"), ("401", "No bearer key, or one that does not verify (WWW-Authenticate: Bearer)"),
                   ("403", "The key's role may not do this (SCIM needs admin or owner; the permission matrix for the key's role), or a group would be created or deleted"),
                   ("404", "No such user in the key's org, group, resource type or schema"), ("405", "The path answers other methods (Allow)"),
                   ("421", "Only on the loopback TCP listener: the Host is not 127.0.0.1, localhost or [::1] with its port"),
                   ("409", "uniqueness (a member or userName that exists), the last owner, or a state the command meets"),
                   ("412", "If-Match names another version"), ("413", "The body is larger than 1 MiB"),
                   ("415", "The body is not JSON"), ("501", "Not implemented (POST /.search)"), ("507", "The disk is full; nothing was written")]:
    rs["Scim" + code] = {"description": what, "content": {SCIM_MEDIA: {"schema": S("ScimError")}}}

def scim_op(op_id, summary, *, params=(), body=None, success, errors=()):
    codes = {"400", "401", "403", "421"} | set(errors)
    if body:
        codes |= {"413", "415"}
    responses = dict(success)
    for code in sorted(codes):
        responses[code] = RESP("Scim" + code)
    op = {"operationId": op_id, "summary": summary, "tags": ["SCIM"], "security": [{"scimBearer": []}]}
    if params:
        op["parameters"] = list(params)
    if body:
        op["requestBody"] = {"required": True, "content": {m: {"schema": S(body)} for m in (SCIM_MEDIA, "application/json")}}
    op["responses"] = responses
    return op

def scim_ok(description, schema, status_headers=None):
    r = {"description": description, "content": {SCIM_MEDIA: {"schema": schema}}}
    if status_headers:
        r["headers"] = status_headers
    return r

components.setdefault("securitySchemes", {})["scimBearer"] = {"type": "http", "scheme": "bearer", "description": "An org API key (olk_...) of role admin or owner"}
SCIM_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
SCIM_LIST_PARAMS = [
    {"name": "filter", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 4096},
     "description": "eq comparisons joined by and, with parentheses: userName, externalId, emails.value, emails[type eq \"work\"].value, displayName, id (Groups: displayName, id). Anything else is 400 invalidFilter."},
    {"name": "startIndex", "in": "query", "required": False, "schema": {"type": "integer", "default": 1}, "description": "From 1; below 1 is 1"},
    {"name": "count", "in": "query", "required": False, "schema": {"type": "integer", "default": 100}, "description": "0 to 1000; below 0 is 0, above 1000 is 1000"},
]
SCIM_ATTRS = [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": "Comma-separated attribute paths (RFC 7644 section 3.4.2.5)"} for n in ("attributes", "excludedAttributes")]
SCIM_ETAG = {"ETag": {"description": "W/\"<version>\"", "schema": {"type": "string"}}}
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}, "description": "W/\"<version>\" (weak comparison); 412 on a mismatch"}
P2 = "/scim/v2"
paths[P2 + "/ServiceProviderConfig"] = {"get": scim_op("scimServiceProviderConfig", "What the server supports (patch, filter, etag; no bulk, sort or password change)", success={"200": scim_ok("The configuration", {"type": "object"})}, errors=["405"])}
paths[P2 + "/ResourceTypes"] = {"get": scim_op("scimResourceTypes", "User and Group", success={"200": scim_ok("A ListResponse", S("ScimListResponse"))}, errors=["405"])}
paths[P2 + "/ResourceTypes/{id}"] = {"get": scim_op("scimResourceType", "One resource type", params=[SCIM_ID], success={"200": scim_ok("The resource type", {"type": "object"})}, errors=["404", "405"])}
paths[P2 + "/Schemas"] = {"get": scim_op("scimSchemas", "The User and Group schemas as OrgLedger keeps them", success={"200": scim_ok("A ListResponse", S("ScimListResponse"))}, errors=["405"])}
paths[P2 + "/Schemas/{id}"] = {"get": scim_op("scimSchema", "One schema, by its URN", params=[SCIM_ID], success={"200": scim_ok("The schema", {"type": "object"})}, errors=["404", "405"])}
paths[P2 + "/.search"] = {"post": scim_op("scimSearch", "Search by POST: not implemented (501); use GET /Users?filter=", success={}, errors=["501"])}
paths[P2 + "/Users"] = {
    "get": scim_op("scimListUsers", "The org's members, in user id order, filtered and paged", params=SCIM_LIST_PARAMS + SCIM_ATTRS,
                   success={"200": scim_ok("A ListResponse of Users", S("ScimListResponse"))}),
    "post": scim_op("scimCreateUser", "Provision: a member at once (role member; suspended if active is false). A pending invitation to them is revoked (provisioned). An existing member is 409 uniqueness unless the request re-sends what is held (200, nothing written)",
                    body="ScimUser", success={"201": scim_ok("The new member", S("ScimUser"), dict(SCIM_ETAG, Location={"schema": {"type": "string"}})),
                                              "200": scim_ok("Exactly what is held was sent again; nothing written", S("ScimUser"), SCIM_ETAG)},
                    errors=["409", "507"]),
}
paths[P2 + "/Users/{id}"] = {
    "get": scim_op("scimGetUser", "One member", params=[SCIM_ID] + SCIM_ATTRS, success={"200": scim_ok("The member", S("ScimUser"), SCIM_ETAG)}, errors=["404"]),
    "put": scim_op("scimReplaceUser", "Replace the directory profile and active (userName set once; emails and read-only attributes not applied)", params=[SCIM_ID, IF_MATCH],
                   body="ScimUser", success={"200": scim_ok("The member", S("ScimUser"), SCIM_ETAG)}, errors=["404", "409", "412", "507"]),
    "patch": scim_op("scimPatchUser", "Change attributes, all or nothing (one command)", params=[SCIM_ID, IF_MATCH], body="ScimPatchOp",
                     success={"200": scim_ok("The member", S("ScimUser"), SCIM_ETAG)}, errors=["404", "409", "412", "507"]),
    "delete": scim_op("scimDeleteUser", "Remove the member from the org (member.removed)", params=[SCIM_ID, IF_MATCH],
                      success={"204": {"description": "Removed"}}, errors=["404", "409", "412", "507"]),
}
paths[P2 + "/Groups"] = {
    "get": scim_op("scimListGroups", "The six roles as groups", params=SCIM_LIST_PARAMS + SCIM_ATTRS, success={"200": scim_ok("A ListResponse of Groups", S("ScimListResponse"))}),
    "post": scim_op("scimCreateGroup", "Refused: the groups are the org's fixed roles (403)", success={}),
}
paths[P2 + "/Groups/{id}"] = {
    "get": scim_op("scimGetGroup", "One role and its members", params=[SCIM_ID] + SCIM_ATTRS, success={"200": scim_ok("The group", S("ScimGroup"), SCIM_ETAG)}, errors=["404"]),
    "put": scim_op("scimReplaceGroup", "Exactly these members in the role: the listed move to it, the others in it move back to member", params=[SCIM_ID, IF_MATCH],
                   body="ScimGroup", success={"200": scim_ok("The group", S("ScimGroup"), SCIM_ETAG)}, errors=["404", "409", "412", "507"]),
    "patch": scim_op("scimPatchGroup", "Add members to the role or remove them from it (one role change per member)", params=[SCIM_ID, IF_MATCH], body="ScimPatchOp",
                     success={"200": scim_ok("The group", S("ScimGroup"), SCIM_ETAG)}, errors=["404", "409", "412", "507"]),
    "delete": scim_op("scimDeleteGroup", "Refused: the groups are the org's fixed roles (403)", params=[SCIM_ID], success={}),
}

doc = {
    "openapi": "3.1.0",
    "info": {"title": "OrgLedger", "version": "1.0.0", "description": INFO},
    "servers": [{"url": "http://localhost", "description": "Over the Unix socket (curl --unix-socket PATH), or the loopback TCP listener (--listen 127.0.0.1:PORT)"}],
    "paths": paths,
    "components": components,
}


class Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True

HEADER = """# OrgLedger API -- OpenAPI 3.1. Tests/e2e/test_openapi.py checks it against the routes the server registers and
# the service's answers; Tests/e2e/test_schemathesis.py runs schemathesis against the live service with it.
# Request schemas are exactly as strict as the server (Sources/OrgDomain/Values, Sources/Service): keep them so.
"""
FIRST = ("type", "name", "in", "required")
def tidy(node):
    """Keys in a reading order: what a value is first, its examples last."""
    if isinstance(node, dict):
        keys = sorted(node, key=lambda k: (0 if k in FIRST else 2 if k in ("examples", "example") else 1))
        if "$ref" in node or "operationId" in node or "openapi" in node:
            keys = list(node)
        return {k: tidy(node[k]) for k in keys}
    if isinstance(node, list):
        return [tidy(item) for item in node]
    return node
doc = tidy(doc)
text = yaml.dump(doc, Dumper=Dumper, sort_keys=False, allow_unicode=False, width=120, default_flow_style=False)
for ch in text:
    assert ord(ch) < 128, repr(ch)
open(sys.argv[1], "w").write(HEADER + text)
