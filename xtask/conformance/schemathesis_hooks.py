"""Schemathesis hooks for `cargo xtask conformance`.

The API refuses a key whose `exp` is not in the future. JSON Schema cannot
say "in the future", so schema-valid data includes past dates (the vendor's
own example, from 2024, among them), which the server rightly answers with
400. Just before each request, this hook moves a past `exp` that is a valid
date-time to a year from now, so that positive tests reach the success
path. Malformed values are left alone: negative tests still send them and
expect a 400.
"""

import datetime

import schemathesis


def _future(value):
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return value
    if moment.tzinfo is None:
        return value
    now = datetime.datetime.now(datetime.timezone.utc)
    if moment > now:
        return value
    return (now + datetime.timedelta(days=365)).isoformat().replace("+00:00", "Z")




@schemathesis.hook
def before_call(context, case, kwargs):
    for body in (case.body, kwargs.get("json")):
        if isinstance(body, dict) and isinstance(body.get("exp"), str):
            body["exp"] = _future(body["exp"])
