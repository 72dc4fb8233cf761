"""Schemathesis hook for the generated phases of the control-plane run of
`cargo xtask conformance` (coverage, fuzzing, stateful). The examples phase
runs without any hook: every example in the control spec must be accepted
as written.

Two rules of the control plane cannot be written in the JSON Schema its
spec uses, so data the schema accepts may break them, and the sandbox
rightly answers 400:

- a fixture key's `secret` ends in the base62 CRC-32 of its random part,
  so that a key the sandbox could not have made is refused, and no two
  keys of one document share a secret;
- a fault's members agree: a `drop` answers no `status`, `retryAfter`
  needs a `status`, and a fault changes something (a `status`, a
  `delayMs`, or the action `drop` or `commitThenFail`).

Just before such a request, this hook brings schema-valid values into line
with these rules, so that positive tests reach the success path. It never
changes what the schema judges: it rewrites only a secret that already
matches the schema's pattern, and removes or adds only members whose values
are themselves schema-valid, so a negative test stays negative.
`schemathesis_control_hooks_test.py` checks this.
"""

import re
import zlib

import schemathesis

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET = re.compile(r"amk_([0-9A-Za-z]{43})[0-9A-Za-z]{6}")


def _base62(number, width):
    digits = ""
    while number:
        number, digit = divmod(number, 62)
        digits = BASE62[digit] + digits
    return digits.rjust(width, "0")


def well_formed(secret):
    """`secret` with the checksum `keys::is_well_formed` expects, if it
    matches the schema's pattern; anything else as it is."""
    if not isinstance(secret, str):
        return secret
    match = SECRET.fullmatch(secret)
    if match is None:
        return secret
    body = match.group(1)
    return f"amk_{body}{_base62(zlib.crc32(body.encode()), 6)}"


def _whole(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _fix_fault(body):
    status_ok = _whole(body.get("status"), 400, 599)
    if body.get("action") == "drop" and status_ok:
        del body["status"]
    if "status" not in body and _whole(body.get("retryAfter"), 0, 86400):
        del body["retryAfter"]
    if (
        body.get("action", "respond") == "respond"
        and "status" not in body
        and _whole(body.get("delayMs", 0), 0, 0)
    ):
        body["delayMs"] = 1


def _another(secret):
    """A different well-formed secret: the random part's last character
    moved on by one."""
    body = secret[4:47]
    last = BASE62[(BASE62.index(body[-1]) + 1) % 62]
    return well_formed(f"amk_{body[:-1]}{last}000000")


def _fix_fixtures(body):
    orgs = body.get("orgs")
    seen = set()
    for org in orgs if isinstance(orgs, list) else []:
        keys = org.get("keys") if isinstance(org, dict) else None
        for key in keys if isinstance(keys, list) else []:
            if not isinstance(key, dict) or not _is_secret(key.get("secret")):
                continue
            secret = well_formed(key["secret"])
            while secret in seen:
                secret = _another(secret)
            seen.add(secret)
            key["secret"] = secret


def _is_secret(value):
    return isinstance(value, str) and SECRET.fullmatch(value) is not None


FIXES = {"addFault": _fix_fault, "loadFixtures": _fix_fixtures}


def _phase(case):
    meta = case.meta
    return None if meta is None else str(meta.phase.name)


@schemathesis.hook
def before_call(context, case, kwargs):
    fix = FIXES.get(case.operation.definition.raw.get("operationId"))
    if fix is None:
        return
    if _phase(case) == "examples":
        raise RuntimeError(
            "schemathesis_control_hooks must not run in the examples phase: "
            "the spec's examples must be accepted as written"
        )
    for body in (case.body, kwargs.get("json")):
        if isinstance(body, dict):
            fix(body)
