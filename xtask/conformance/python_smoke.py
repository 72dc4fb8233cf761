"""Drives the sandbox with the Python client that openapi-python-client
generated from the published spec: create a key with the bootstrap key,
list and find it, delete it. Every step asserts what it got.

Usage: python python_smoke.py PATH_TO_ALPHAMOON_SANDBOX
(run with the generated package on PYTHONPATH; `cargo xtask conformance`
does both).
"""

import base64
import datetime
import subprocess
import sys
import tempfile
from pathlib import Path

from alphamoon_workspace_organization_api_keys_client import AuthenticatedClient
from alphamoon_workspace_organization_api_keys_client.api.api_keys import (
    create_api_key,
    delete_api_key,
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
        key_file = Path(tmp) / "admin.key"
        server = subprocess.Popen(
            [sandbox, "--in-memory", "--listen", "127.0.0.1:0", "--rate-limit", "0",
             "--org-rate-limit", "0", "--bootstrap-key-file", str(key_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            line = server.stdout.readline().strip()
            assert line.startswith("listening on http://127.0.0.1:"), line
            run(line.removeprefix("listening on "), key_file.read_text())
        finally:
            server.terminate()
            server.wait(timeout=10)


def run(base_url: str, admin_key: str) -> None:
    token = base64.b64encode(admin_key.encode()).decode()
    client = AuthenticatedClient(base_url=base_url, token=token, prefix="Basic")
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)

    created = create_api_key.sync(
        client=client,
        body=CreateApiKeyRequest(
            name="python smoke test",
            exp=expires,
            scopes=[Scope.WORKSPACE_FILEUPLOAD, Scope.WORKSPACE_RESULTREAD],
        ),
    )
    assert isinstance(created, CreatedApiKey), created
    assert created.key.startswith("amk_"), "the one-time secret is returned"
    assert created.status == ApiKeyStatus.ACTIVE
    assert set(created.scopes) == {Scope.WORKSPACE_FILEUPLOAD, Scope.WORKSPACE_RESULTREAD}
    assert abs((created.exp - expires).total_seconds()) < 1, (created.exp, expires)
    print(f"created {created.id}")

    page = list_api_keys.sync(client=client, offset=0, limit=100)
    assert isinstance(page, ApiKeyList), page
    assert page.pagination.total == 2, page.pagination
    listed = [key for key in page.api_keys if key.id == created.id]
    assert len(listed) == 1, "the new key is listed once"
    assert listed[0].name == "python smoke test"
    print(f"listed {page.pagination.total} keys, found {created.id}")

    deleted = delete_api_key.sync_detailed(created.id, client=client)
    assert deleted.status_code == 200, deleted
    again = delete_api_key.sync(created.id, client=client)
    assert isinstance(again, Error) and again.status == 404, again
    page = list_api_keys.sync(client=client)
    assert isinstance(page, ApiKeyList) and page.pagination.total == 1, page
    print(f"deleted {created.id}; a second delete is 404")

    refused = list_api_keys.sync(client=AuthenticatedClient(base_url=base_url, token="bm9wZQ==", prefix="Basic"))
    assert isinstance(refused, Error) and refused.status == 401, refused
    print("a bad key is refused with 401")


if __name__ == "__main__":
    main(sys.argv[1])
