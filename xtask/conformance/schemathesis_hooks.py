"""Schemathesis hook for the generated phases of `cargo xtask conformance`
(coverage, fuzzing, stateful). The examples phase runs without any hook:
every example in the published spec must be accepted as written.

The API refuses a key whose `exp` is not in the future. JSON Schema cannot
say "in the future", so generated data that is schema-valid includes past
dates, which the server rightly answers with 400. Just before each create
request, this hook moves a past `exp` that is an RFC 3339 date-time to a
year from now, so that positive tests reach the success path.

It touches nothing else: no other operation, no other field, and no `exp`
that is malformed or already in the future (negative tests still send
those and expect a 400). Loaded into an examples run by mistake, it fails
the run instead of hiding a stale example. `schemathesis_hooks_test.py`
checks all of this.
"""

import datetime
import re

import schemathesis

CREATE = "createApiKey"

# RFC 3339 `date-time`, what the spec's `format: date-time` means. Python's
# `fromisoformat` also takes other ISO 8601 forms, which the server refuses
# and which must stay as they are.
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


def _future(value):
    if not isinstance(value, str) or RFC3339.fullmatch(value) is None:
        return value
    try:
        moment = datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return value
    now = datetime.datetime.now(datetime.timezone.utc)
    if moment > now:
        return value
    return (now + datetime.timedelta(days=365)).isoformat().replace("+00:00", "Z")


def _phase(case):
    meta = case.meta
    return None if meta is None else str(meta.phase.name)


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.definition.raw.get("operationId") != CREATE:
        return
    if _phase(case) == "examples":
        raise RuntimeError(
            "schemathesis_hooks must not run in the examples phase: "
            "the spec's examples must be accepted as written"
        )
    for body in (case.body, kwargs.get("json")):
        if isinstance(body, dict) and "exp" in body:
            moved = _future(body["exp"])
            if moved is not body["exp"]:
                body["exp"] = moved
