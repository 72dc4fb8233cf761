"""Checks that `schemathesis_hooks.before_call` moves a past `exp` of a
create request into the future and touches nothing else. `cargo xtask
conformance` runs it with the venv's Python, before schemathesis itself.

Usage: python schemathesis_hooks_test.py (with this directory on PYTHONPATH)
"""

import copy
import datetime
from types import SimpleNamespace

from schemathesis_hooks import before_call

NOW = datetime.datetime.now(datetime.timezone.utc)
PAST = "2024-07-17T07:23:51.104Z"
FUTURE = "2099-07-17T07:23:51.104Z"


def case(operation_id, body, phase="fuzzing"):
    return SimpleNamespace(
        operation=SimpleNamespace(definition=SimpleNamespace(raw={"operationId": operation_id})),
        meta=SimpleNamespace(phase=SimpleNamespace(name=phase)),
        body=body,
    )


def call(c, kwargs=None):
    kwargs = {} if kwargs is None else kwargs
    before_call(None, c, kwargs)
    return c, kwargs


def untouched(operation_id, body, phase="fuzzing"):
    sent = copy.deepcopy(body)
    c, kwargs = call(case(operation_id, body, phase), {"json": copy.deepcopy(body)})
    assert c.body == sent, (operation_id, sent, c.body)
    assert kwargs["json"] == sent, (operation_id, sent, kwargs["json"])


def main():
    # A past RFC 3339 `exp` of a create request moves a year ahead, in the
    # case and in the request arguments; the other fields stay.
    body = {"name": "n", "exp": PAST, "scopes": ["workspace.file:upload"], "extra": PAST}
    c, kwargs = call(case("createApiKey", body), {"json": dict(body)})
    for sent in (c.body, kwargs["json"]):
        moved = datetime.datetime.fromisoformat(sent["exp"].replace("Z", "+00:00"))
        assert datetime.timedelta(days=364) < moved - NOW < datetime.timedelta(days=366), sent
        assert {k: v for k, v in sent.items() if k != "exp"} == {
            "name": "n",
            "scopes": ["workspace.file:upload"],
            "extra": PAST,
        }, sent
    for phase in ("coverage", "stateful"):
        c, _ = call(case("createApiKey", {"exp": "2000-01-01T00:00:00+02:00"}, phase))
        assert c.body["exp"] != "2000-01-01T00:00:00+02:00", phase

    # Everything else is left alone: a future or malformed `exp`, values
    # `fromisoformat` would read but RFC 3339 does not allow, other types,
    # bodies that are not objects, and every other operation.
    for exp in [FUTURE, "yesterday", "2024-07-17", "2024-07-17T07:23:51", "20240717T072351Z",
                "2024-07-17 07:23:51Z", 20240717, None, ["2024"], ""]:
        untouched("createApiKey", {"name": "n", "exp": exp, "scopes": []})
    untouched("createApiKey", [PAST])
    untouched("createApiKey", PAST)
    untouched("createApiKey", None)
    for operation_id in ("listApiKeys", "deleteApiKey", None):
        untouched(operation_id, {"exp": PAST})

    # The examples phase runs without hooks; loaded there, it fails loudly.
    try:
        call(case("createApiKey", {"exp": PAST}, "examples"))
    except RuntimeError as e:
        assert "examples phase" in str(e), e
    else:
        raise AssertionError("the hook ran in the examples phase")
    print("schemathesis_hooks: moves only a past create `exp`")


if __name__ == "__main__":
    main()
