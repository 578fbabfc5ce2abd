"""Regular expressions for schemas/openapi.yaml, derived from the server's rules (Sources/OrgDomain/Values,
Sources/LedgerCore/EventEnvelope.swift, Sources/Service/HTTP/RequestSupport.swift). Character sets are written
with literal characters: YAML shows them as escapes, every regex engine reads them the same way."""
import unicodedata

def esc(cp):
    c = chr(cp)
    if c in "\\]^-[":
        return "\\" + c
    return c

def char_class(ranges, negate=False):
    out = []
    for lo, hi in ranges:
        if lo == hi:
            out.append(esc(lo))
        elif hi == lo + 1:
            out.append(esc(lo) + esc(hi))
        else:
            out.append(esc(lo) + "-" + esc(hi))
    return "[" + ("^" if negate else "") + "".join(out) + "]"

def merge(ranges):
    ranges = sorted(ranges)
    out = []
    for lo, hi in ranges:
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out

R = lambda a, b=None: (a, a if b is None else b)

# Swift's Unicode.Scalar.Properties.isWhitespace (White_Space).
WHITE_SPACE = [R(0x09, 0x0D), R(0x20), R(0x85), R(0xA0), R(0x1680), R(0x2000, 0x200A), R(0x2028, 0x2029), R(0x202F), R(0x205F), R(0x3000)]
# Bidi_Control.
BIDI = [R(0x061C), R(0x200E, 0x200F), R(0x202A, 0x202E), R(0x2066, 0x2069)]
# Default_Ignorable_Code_Point.
DEFAULT_IGNORABLE = [R(0xAD), R(0x34F), R(0x61C), R(0x115F, 0x1160), R(0x17B4, 0x17B5), R(0x180B, 0x180F), R(0x200B, 0x200F),
                     R(0x202A, 0x202E), R(0x2060, 0x206F), R(0x3164), R(0xFE00, 0xFE0F), R(0xFEFF), R(0xFFA0), R(0xFFF0, 0xFFF8),
                     R(0x1BCA0, 0x1BCA3), R(0x1D173, 0x1D17A), R(0xE0000, 0xE0FFF)]
# General category Cf (Unicode 15.1), Cc, Zl, Zp.
FORMAT = [R(0xAD), R(0x600, 0x605), R(0x61C), R(0x6DD), R(0x70F), R(0x890, 0x891), R(0x8E2), R(0x180E), R(0x200B, 0x200F),
          R(0x202A, 0x202E), R(0x2060, 0x2064), R(0x2066, 0x206F), R(0xFEFF), R(0xFFF9, 0xFFFB), R(0x110BD), R(0x110CD),
          R(0x13430, 0x1343F), R(0x1BCA0, 0x1BCA3), R(0x1D173, 0x1D17A), R(0xE0001), R(0xE0020, 0xE007F)]
CONTROL = [R(0x00, 0x1F), R(0x7F, 0x9F)]
SEPARATORS = [R(0x2028), R(0x2029)]
FFFD = [R(0xFFFD)]

# TextRules.isForbiddenInIdentifier (+ U+FFFD, bytes that were not UTF-8): emails, avatar URLs.
IDENTIFIER_FORBIDDEN = merge(WHITE_SPACE + BIDI + DEFAULT_IGNORABLE + FORMAT + CONTROL + SEPARATORS + FFFD)
# TextRules.isForbiddenInDisplayText: display names and key names.
DISPLAY_FORBIDDEN = merge(CONTROL + SEPARATORS + BIDI)
# EventMeta.isForbidden: recorded header values (and X-Actor).
HEADER_FORBIDDEN = merge(CONTROL + SEPARATORS + BIDI + FFFD)

def visible_ranges():
    """TextRules.isVisible: letters, numbers, punctuation and symbols that are not default-ignorable."""
    ignorable = set()
    for lo, hi in DEFAULT_IGNORABLE:
        ignorable.update(range(lo, hi + 1))
    out, start = [], None
    for cp in range(0x110000 + 1):
        ok = cp < 0x110000 and unicodedata.category(chr(cp))[0] in "LNPS" and cp not in ignorable
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    return out

def nonzero_le(maximum: str) -> str:
    """Decimal numbers without leading zeros from 1 to `maximum`."""
    n = len(maximum)
    alts = []
    if n > 1:
        alts.append("[1-9][0-9]{0,%d}" % (n - 2) if n > 2 else "[1-9]")
    for i in range(n):
        lo = 1 if i == 0 else 0
        hi = int(maximum[i]) - 1
        if hi >= lo:
            digit = str(lo) if hi == lo else "[%d-%d]" % (lo, hi)
            rest = n - i - 1
            alts.append(maximum[:i] + digit + ("[0-9]{%d}" % rest if rest > 1 else "[0-9]" if rest == 1 else ""))
    alts.append(maximum)
    return "(?:" + "|".join(alts) + ")"

UINT64_MAX = str(2**64 - 1)
INT64_MAX = str(2**63 - 1)
INT64_MIN_ABS = str(2**63)
# Swift's UInt64(String): an optional '+', leading zeros, and '-0' all parse.
SWIFT_UINT64 = r"(?:\+?(?:0+|0*%s)|-0+)" % nonzero_le(UINT64_MAX)
SWIFT_UINT64_POSITIVE = r"\+?0*%s" % nonzero_le(UINT64_MAX)
SWIFT_INT64 = r"(?:[+-]?0+|\+?0*%s|-0*%s)" % (nonzero_le(INT64_MAX), nonzero_le(INT64_MIN_ABS))

YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
DATE = ("(?:" + YEAR + "-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
        "|02-(?:0[1-9]|1[0-9]|2[0-8]))|" + LEAP_YEAR + "-02-29)")
TIME = r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
# Timestamp(rfc3339:): years 0001-9999, real dates, seconds 00-59, any fraction, Z or an offset.
RFC3339 = DATE + TIME

OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
IPV4 = r"%s(?:\.%s){3}" % (OCTET, OCTET)
def ipv6():
    h = "[0-9A-Fa-f]{1,4}"
    def left(k):
        return "" if k == 0 else ("%s" % h if k == 1 else "(?:%s:){%d}%s" % (h, k - 1, h))
    def right(m):
        return "" if m == 0 else ("%s" % h if m == 1 else "%s(?::%s){%d}" % (h, h, m - 1))
    alts = ["(?:%s:){7}%s" % (h, h), "(?:%s:){6}%s" % (h, IPV4)]
    for k in range(0, 8):
        for m in range(0, 8 - k):
            alts.append(left(k) + "::" + right(m))
    for k in range(0, 6):
        for m in range(0, 6 - k):
            alts.append(left(k) + "::" + (right(m) + ":" if m else "") + IPV4)
    return "(?:" + "|".join(alts) + ")"
IPV6 = ipv6()

def case_insensitive(word):
    return "".join("[%s%s]" % (c, c.upper()) if c.isalpha() else c for c in word)

RESERVED = sorted(["about", "admin", "administrator", "api", "app", "assets", "auth", "billing", "blog", "dashboard",
    "docs", "health", "help", "invitations", "login", "logout", "me", "metrics", "new", "null", "org",
    "orgs", "orgledger", "owner", "root", "security", "settings", "signup", "static", "status",
    "support", "system", "undefined", "v1", "www"])

BASE32 = "[0-9a-hjkmnp-tv-z]"
