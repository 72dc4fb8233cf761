"""Checks that `schemathesis_control_hooks.before_call` brings schema-valid
faults and fixture secrets into line with the control plane's rules that
JSON Schema cannot state, and touches nothing else. `cargo xtask
conformance` runs it with the venv's Python, before the control-plane run.

Usage: python schemathesis_control_hooks_test.py (with this directory on PYTHONPATH)
"""

import copy
from types import SimpleNamespace

from schemathesis_control_hooks import before_call, well_formed

# The control spec's example: `alphamoon-sandbox key make` made it.
GOOD = "amk_Ad0M6ml3XezelJUEbxBYy8X4oLKI02IN1cJ6u0qTNBe25kzVm"


def case(operation_id, body, phase="fuzzing"):
    return SimpleNamespace(
        operation=SimpleNamespace(definition=SimpleNamespace(raw={"operationId": operation_id})),
        meta=SimpleNamespace(phase=SimpleNamespace(name=phase)),
        body=body,
    )


def sent(operation_id, body, phase="fuzzing"):
    """The body as sent after the hook, checked to be the same in the case
    and in the request arguments."""
    c = case(operation_id, copy.deepcopy(body), phase)
    kwargs = {"json": copy.deepcopy(body)}
    before_call(None, c, kwargs)
    assert c.body == kwargs["json"], (c.body, kwargs["json"])
    return c.body


def untouched(operation_id, body, phase="fuzzing"):
    after = sent(operation_id, body, phase)
    assert after == body, (operation_id, body, after)


def main():
    # The checksum is the sandbox's: a well-formed key stays as it is, and
    # one with a wrong checksum gets the right one.
    assert well_formed(GOOD) == GOOD
    broken = GOOD[:-6] + "000000"
    assert well_formed(broken) == GOOD
    fixtures = {"orgs": [{"name": "o", "keys": [
        {"name": "k", "scopes": ["workspace.file:upload"], "exp": "2099-01-01T00:00:00Z",
         "secret": broken},
        {"name": "k2", "scopes": ["workspace.file:upload"], "exp": "2099-01-01T00:00:00Z"},
    ]}]}
    fixed = copy.deepcopy(fixtures)
    fixed["orgs"][0]["keys"][0]["secret"] = GOOD
    assert sent("loadFixtures", fixtures) == fixed
    # Secrets repeated in one document, also once their checksums are
    # right, become distinct well-formed secrets; the first stays.
    repeated = {"orgs": [
        {"name": "a", "keys": [{"secret": GOOD}, {"secret": broken}]},
        {"name": "b", "keys": [{"secret": GOOD}]},
    ]}
    secrets = [k["secret"] for org in sent("loadFixtures", repeated)["orgs"] for k in org["keys"]]
    assert secrets[0] == GOOD and len(set(secrets)) == 3, secrets
    assert all(well_formed(s) == s for s in secrets), secrets
    # A secret the schema's pattern refuses stays refused.
    for secret in [GOOD[:-1], GOOD + "a", "amk_" + "-" * 49, "xyz_" + GOOD[4:], 42, None]:
        untouched("loadFixtures", {"orgs": [{"name": "o", "keys": [{"secret": secret}]}]})
    for body in [[], "orgs", {"orgs": "x"}, {"orgs": [1, {"keys": 2}, {"keys": [3]}]}]:
        untouched("loadFixtures", body)

    # Faults: each rule the schema cannot state, fixed with schema-valid
    # members only.
    assert sent("addFault", {"action": "drop", "status": 429, "retryAfter": 1, "times": 1}) == {
        "action": "drop", "times": 1}
    assert sent("addFault", {"retryAfter": 5, "probability": 0.5}) == {
        "probability": 0.5, "delayMs": 1}
    assert sent("addFault", {}) == {"delayMs": 1}
    assert sent("addFault", {"operationId": "listApiKeys", "delayMs": 0}) == {
        "operationId": "listApiKeys", "delayMs": 1}
    assert sent("addFault", {"action": "respond"}) == {"action": "respond", "delayMs": 1}
    # Faults that already keep the rules are left alone.
    for body in [
        {"status": 500, "retryAfter": 1},
        {"action": "drop"},
        {"action": "commitThenFail", "status": 500},
        {"action": "commitThenFail"},
        {"delayMs": 2000},
    ]:
        untouched("addFault", body)
    # A member whose own value the schema refuses (a negative test) is
    # never removed or changed, so the body stays one the schema refuses.
    for body in [
        {"action": "drop", "status": "429"},
        {"action": "drop", "status": 200},
        {"action": "drop", "status": True},
        {"retryAfter": -1},
        {"retryAfter": "1"},
        {"delayMs": -1},
        {"delayMs": 0.0},
        {"delayMs": False},
        {"action": "explode"},
        {"action": None},
    ]:
        after = sent("addFault", body)
        assert all(after.get(key, KeyError) == value for key, value in body.items()), (body, after)
    for body in [[], "x", None]:
        untouched("addFault", body)
    # Every other operation is left alone.
    for operation_id in ("setClock", "createSandboxOrg", "deleteFault", None):
        untouched(operation_id, {})
        untouched(operation_id, {"orgs": [{"keys": [{"secret": broken}]}]})

    # The examples phase runs without hooks; loaded there, it fails loudly.
    for operation_id in ("addFault", "loadFixtures"):
        try:
            sent(operation_id, {}, "examples")
        except RuntimeError as e:
            assert "examples phase" in str(e), e
        else:
            raise AssertionError("the hook ran in the examples phase")
    print("schemathesis_control_hooks: fixes only what the schema cannot state")


if __name__ == "__main__":
    main()
