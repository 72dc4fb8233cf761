"""Drives the sandbox's control plane with the Python client that
openapi-python-client generated from the published control spec, and the
vendor API with the one generated from the main spec: load fixtures, use a
fixture key, inject a fault, move the clock, and assert on the journal.
Every step asserts what it got.

Usage: python python_control.py PATH_TO_ALPHAMOON_SANDBOX
(run with both generated packages on PYTHONPATH; `cargo xtask conformance`
does both).
"""

import base64
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from alphamoon_sandbox_control_plane_client import AuthenticatedClient as ControlClient
from alphamoon_sandbox_control_plane_client.api.clock import set_clock
from alphamoon_sandbox_control_plane_client.api.faults import add_fault, list_faults
from alphamoon_sandbox_control_plane_client.api.journal import list_recorded_requests
from alphamoon_sandbox_control_plane_client.api.state import load_fixtures, reset_sandbox
from alphamoon_sandbox_control_plane_client.models import (
    AdvanceClock,
    Clock,
    Fault,
    FaultRequest,
    FixtureKey,
    FixtureOrg,
    Fixtures,
    LoadedFixtures,
    RecordedRequestList,
    ScopeName,
    VendorOperationId,
)
from alphamoon_workspace_organization_api_keys_client import AuthenticatedClient
from alphamoon_workspace_organization_api_keys_client.api.api_keys import (
    create_api_key,
    list_api_keys,
)
from alphamoon_workspace_organization_api_keys_client.models import (
    ApiKeyList,
    ApiKeyStatus,
    CreateApiKeyRequest,
    CreatedApiKey,
    Error,
    Scope,
)


def main(sandbox: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "control.token"
        server = subprocess.Popen(
            [sandbox, "--in-memory", "--listen", "127.0.0.1:0", "--rate-limit", "0",
             "--org-rate-limit", "0", "--control-token-file", str(token_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            line = server.stdout.readline().strip()
            assert line.startswith("listening on http://127.0.0.1:"), line
            run(line.removeprefix("listening on "), token_file.read_text().strip())
        finally:
            server.terminate()
            server.wait(timeout=10)


def vendor(base_url: str, secret: str) -> AuthenticatedClient:
    token = base64.b64encode(secret.encode()).decode()
    return AuthenticatedClient(base_url=base_url, token=token, prefix="Basic")


def run(base_url: str, token: str) -> None:
    control = ControlClient(base_url=base_url, token=token)
    now = datetime.datetime.now(datetime.timezone.utc)

    loaded = load_fixtures.sync(
        client=control,
        body=Fixtures(orgs=[FixtureOrg(name="Acme", keys=[FixtureKey(
            name="ci",
            # The control spec lists the vendor's scopes, so they are typed.
            scopes=[ScopeName("workspace.admin.api_key:manage"), ScopeName("workspace.file:upload")],
            exp=now + datetime.timedelta(days=30),
        )])]),
    )
    assert isinstance(loaded, LoadedFixtures), loaded
    ci = loaded.orgs[0].keys[0]
    client = vendor(base_url, ci.key)
    print(f"loaded fixtures: org {loaded.orgs[0].org_id}, key {ci.id}")

    created = create_api_key.sync(client=client, body=CreateApiKeyRequest(
        name="a day", exp=now + datetime.timedelta(days=1), scopes=[Scope.WORKSPACE_FILEUPLOAD],
    ))
    assert isinstance(created, CreatedApiKey), created

    fault = add_fault.sync(client=control, body=FaultRequest(
        operation_id=VendorOperationId.LISTAPIKEYS, status=429, retry_after=1, times=1,
    ))
    assert isinstance(fault, Fault), fault
    limited = list_api_keys.sync(client=client)
    assert isinstance(limited, Error) and limited.status == 429, limited
    page = list_api_keys.sync(client=client)
    assert isinstance(page, ApiKeyList) and page.pagination.total == 3, page
    faults = list_faults.sync(client=control)
    assert faults.faults == [], "the fault retired after its one hit"
    print(f"fault {fault.id} answered one list with 429")

    clock = set_clock.sync(client=control, body=AdvanceClock(advance_by_seconds=2 * 86400))
    assert isinstance(clock, Clock) and clock.now >= now + datetime.timedelta(days=2), clock
    page = list_api_keys.sync(client=client)
    status = {key.name: key.status for key in page.api_keys}
    assert status == {"admin": ApiKeyStatus.ACTIVE, "ci": ApiKeyStatus.ACTIVE,
                      "a day": ApiKeyStatus.EXPIRED}, status
    expired = list_api_keys.sync(client=vendor(base_url, created.key))
    assert isinstance(expired, Error) and expired.status == 401, expired
    print("two days later, the day-long key is expired, without waiting")

    raw = list_recorded_requests.sync_detailed(client=control)
    assert raw.status_code == 200, raw
    text = raw.content.decode()
    for secret in (ci.key, created.key, loaded.orgs[0].admin_key, token):
        assert secret not in text, "the journal holds a secret"
    assert "amk_" not in text and "Basic" not in text, text
    journal = RecordedRequestList.from_dict(json.loads(text))
    seen = [(r.operation_id, r.status, r.key_id, r.fault) for r in journal.requests]
    assert seen == [
        ("listApiKeys", 401, None, None),
        ("listApiKeys", 200, ci.id, None),
        ("listApiKeys", 200, ci.id, None),
        ("listApiKeys", 429, ci.id, fault.id),
        ("createApiKey", 201, ci.id, None),
    ], seen
    lists = list_recorded_requests.sync(client=control, operation_id=VendorOperationId.CREATEAPIKEY)
    assert [r.operation_id for r in lists.requests] == ["createApiKey"], lists
    print(f"the journal shows the {len(seen)} requests, newest first, without secrets")

    reset = reset_sandbox.sync_detailed(client=control)
    assert reset.status_code == 204, reset
    gone = list_api_keys.sync(client=client)
    assert isinstance(gone, Error) and gone.status == 401, gone
    print("after a reset the fixture key is refused")


if __name__ == "__main__":
    main(sys.argv[1])
