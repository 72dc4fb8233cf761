"""Drives sandbox containers with the Python clients that
openapi-python-client generated from the two published specs, as a test
suite in another language would: wait for readiness, then create, list and
delete keys with the admin key from a mounted fixtures file, inject a fault,
and reset; or, given two containers on one PostgreSQL database, show that a
key deleted through one fails on the other at once, and that a fault and a
reset made through one hold on the other.

Usage:
  python python_container.py single URL
  python python_container.py replicas URL_A URL_B

The admin key and the control token come from the variables
ALPHAMOON_ADMIN_KEY and ALPHAMOON_CONTROL_TOKEN, never from the command
line, which other users of the machine can read. `cargo xtask image
--prove` runs this with both generated packages on PYTHONPATH.
"""

import base64
import datetime
import os
import sys
import time

import httpx
from alphamoon_sandbox_control_plane_client import AuthenticatedClient as ControlClient
from alphamoon_sandbox_control_plane_client import Client as OpenClient
from alphamoon_sandbox_control_plane_client.api.faults import add_fault, list_faults
from alphamoon_sandbox_control_plane_client.api.health import check_liveness, check_readiness
from alphamoon_sandbox_control_plane_client.api.state import reset_sandbox
from alphamoon_sandbox_control_plane_client.models import Fault, FaultRequest, Health, VendorOperationId
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

# A container serves within a few seconds; a first start on a loaded
# machine may take longer, but not this long.
READY_WITHIN_SECONDS = 60


def vendor(base_url: str, secret: str) -> AuthenticatedClient:
    token = base64.b64encode(secret.encode()).decode()
    return AuthenticatedClient(base_url=base_url, token=token, prefix="Basic")


def wait_until_ready(base_url: str) -> None:
    """Polls the readiness probe, without credentials, until it answers 200."""
    probe = OpenClient(base_url=base_url, timeout=5.0)
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    last = None
    while True:
        try:
            answer = check_readiness.sync_detailed(client=probe)
        except httpx.TransportError as error:  # not listening yet
            answer, last = None, repr(error)
        if answer is not None and answer.status_code == 200:
            break
        if answer is not None:
            last = f"status {answer.status_code}"
        assert time.monotonic() < deadline, \
            f"{base_url} was not ready within {READY_WITHIN_SECONDS} s: {last}"
        time.sleep(0.2)
    assert isinstance(answer.parsed, Health) and answer.parsed.status == "ready", answer
    alive = check_liveness.sync(client=probe)
    assert isinstance(alive, Health) and alive.status == "ok", alive
    print(f"{base_url} is ready")


def create(client: AuthenticatedClient, name: str, scope: Scope) -> CreatedApiKey:
    created = create_api_key.sync(client=client, body=CreateApiKeyRequest(
        name=name,
        exp=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30),
        scopes=[scope],
    ))
    assert isinstance(created, CreatedApiKey), created
    assert created.key.startswith("amk_") and created.status == ApiKeyStatus.ACTIVE, created
    return created


def single(base_url: str, admin_key: str, token: str) -> None:
    wait_until_ready(base_url)
    admin = vendor(base_url, admin_key)
    control = ControlClient(base_url=base_url, token=token)

    created = create(admin, "from a container test", Scope.WORKSPACE_FILEUPLOAD)
    page = list_api_keys.sync(client=admin, limit=100)
    assert isinstance(page, ApiKeyList), page
    assert created.id in [key.id for key in page.api_keys], page
    deleted = delete_api_key.sync_detailed(created.id, client=admin)
    assert deleted.status_code == 200, deleted
    refused = list_api_keys.sync(client=vendor(base_url, created.key))
    assert isinstance(refused, Error) and refused.status == 401, refused
    print(f"created, listed and deleted {created.id}; its key is refused")

    fault = add_fault.sync(client=control, body=FaultRequest(
        operation_id=VendorOperationId.LISTAPIKEYS, status=503, retry_after=1, times=1,
    ))
    assert isinstance(fault, Fault), fault
    hit = list_api_keys.sync(client=admin)
    assert isinstance(hit, Error) and hit.status == 503, hit
    after = list_api_keys.sync(client=admin)
    assert isinstance(after, ApiKeyList), after
    assert list_faults.sync(client=control).faults == [], "the fault retired after one hit"
    print(f"fault {fault.id} answered one list with 503")

    reset = reset_sandbox.sync_detailed(client=control)
    assert reset.status_code == 204, reset
    gone = list_api_keys.sync(client=admin)
    assert isinstance(gone, Error) and gone.status == 401, gone
    print("after a reset the fixture's admin key is refused")


def replicas(url_a: str, url_b: str, admin_key: str, token: str) -> None:
    for url in (url_a, url_b):
        wait_until_ready(url)
    # A key that may list keys, so that "works" means a 200.
    created = create(vendor(url_a, admin_key), "made on A", Scope.WORKSPACE_ADMIN_API_KEYMANAGE)
    page = list_api_keys.sync(client=vendor(url_b, created.key))
    assert isinstance(page, ApiKeyList) and created.id in [key.id for key in page.api_keys], page
    print(f"{created.id}, made through A, works on B")
    deleted = delete_api_key.sync_detailed(created.id, client=vendor(url_b, admin_key))
    assert deleted.status_code == 200, deleted
    for url in (url_a, url_b):
        refused = list_api_keys.sync(client=vendor(url, created.key))
        assert isinstance(refused, Error) and refused.status == 401, (url, refused)
    print(f"{created.id}, deleted through B, fails on A and on B at once")

    # Faults and resets are shared state too: set through one replica,
    # they hold on the other.
    fault = add_fault.sync(client=ControlClient(base_url=url_a, token=token), body=FaultRequest(
        operation_id=VendorOperationId.LISTAPIKEYS, status=503, retry_after=1, times=1,
    ))
    assert isinstance(fault, Fault), fault
    hit = list_api_keys.sync(client=vendor(url_b, admin_key))
    assert isinstance(hit, Error) and hit.status == 503, hit
    print(f"fault {fault.id}, added through A, answered a list on B with 503")
    reset = reset_sandbox.sync_detailed(client=ControlClient(base_url=url_b, token=token))
    assert reset.status_code == 204, reset
    gone = list_api_keys.sync(client=vendor(url_a, admin_key))
    assert isinstance(gone, Error) and gone.status == 401, gone
    print("a reset through B leaves A without the fixture's admin key")


def main(argv: list[str]) -> None:
    admin_key = os.environ["ALPHAMOON_ADMIN_KEY"]
    match argv:
        case ["single", url]:
            single(url, admin_key, os.environ["ALPHAMOON_CONTROL_TOKEN"])
        case ["replicas", url_a, url_b]:
            replicas(url_a, url_b, admin_key, os.environ["ALPHAMOON_CONTROL_TOKEN"])
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
