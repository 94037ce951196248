"""The admin / tenant self-serve API against its own OpenAPI document, and the `lucair` CLI
administering a running gateway's storage."""

from __future__ import annotations

import subprocess
import time
import uuid
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conftest import BIN_DIR
from e2e_helpers import ADMIN_KEY


@pytest.fixture(scope="module")
def document(lucair) -> dict[str, Any]:
    with lucair.http() as h:
        r = h.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    validate_openapi(doc)  # a valid OpenAPI 3.1 document
    return doc


def check(document: dict[str, Any], schema: str, instance: Any) -> None:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:lucair:admin", resource)
    validator = jsonschema.Draft202012Validator({"$ref": f"urn:lucair:admin#/components/schemas/{schema}"}, registry=registry)
    errors = [e.message for e in validator.iter_errors(instance)]
    assert not errors, f"{schema}: {errors}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_every_admin_answer_matches_the_document(lucair, document) -> None:
    with lucair.http() as h:
        created = h.post("/admin/v1/tenants", json={"name": unique("doc"), "kind": "external", "plan": "pro", "limits": {"rpm": 100}})
        assert created.status_code == 201
        check(document, "Tenant", created.json())
        tid = created.json()["id"]
        check(document, "TenantList", h.get("/admin/v1/tenants").json())
        check(document, "Tenant", h.get(f"/admin/v1/tenants/{tid}").json())
        check(document, "Tenant", h.patch(f"/admin/v1/tenants/{tid}", json={"plan": "enterprise"}).json())
        minted = h.post(f"/admin/v1/tenants/{tid}/keys", json={"name": "app", "scopes": {"tiers": ["baseline"]}, "limits": {"tpm": 5000}})
        assert minted.status_code == 201
        check(document, "ApiKeyWithSecret", minted.json())
        lineage = minted.json()["lineage_id"]
        check(document, "ApiKeyList", h.get(f"/admin/v1/tenants/{tid}/keys").json())
        check(document, "ApiKey", h.patch(f"/admin/v1/tenants/{tid}/keys/{lineage}", json={"limits": {"rpm": 7}}).json())
        rotated = h.post(f"/admin/v1/tenants/{tid}/keys/{lineage}/rotate", json={"grace_seconds": 10})
        assert rotated.status_code == 201
        check(document, "ApiKeyWithSecret", rotated.json())
        check(document, "ApiKey", h.post(f"/admin/v1/tenants/{tid}/keys/{lineage}/revoke").json())
        check(document, "Usage", h.get(f"/admin/v1/tenants/{tid}/usage").json())
        topped = h.post(f"/admin/v1/tenants/{tid}/wallet/topups", json={"amount_nano": 5_000_000_000, "reference": unique("pay")})
        assert topped.status_code == 201
        check(document, "Wallet", topped.json())
        check(document, "Wallet", h.get(f"/admin/v1/tenants/{tid}/wallet").json())
        for bad in (h.get("/admin/v1/tenants/nope"), h.post("/admin/v1/tenants", json={"kind": "external"}),
                    h.post(f"/admin/v1/tenants/{tid}/keys", json={"limits": {"rpm": -1}})):
            assert bad.status_code in (400, 404)
            check(document, "ErrorResponse", bad.json())


def cli(lucair, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN_DIR / "lucair"), *args, "--config", str(lucair.config_path)],
                          capture_output=True, text=True, timeout=60)


def wait_for_status(lucair, key: str, status: int) -> float:
    start = time.monotonic()
    with lucair.http(api_key=key) as h:
        while time.monotonic() - start < 10.0:  # a 250 ms poll; room for a loaded machine
            r = h.post("/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
            if r.status_code == status:
                return time.monotonic() - start
            time.sleep(0.02)
    pytest.fail(f"the running gateway did not answer {status} within 10 s")


def test_cli_creates_mints_rotates_and_revokes_against_a_running_gateway(lucair) -> None:
    name = unique("cli")
    created = cli(lucair, "tenants", "create", name, "--kind", "internal", "--plan", "pro")
    assert created.returncode == 0, created.stderr
    assert name in cli(lucair, "tenants", "list").stdout
    minted = cli(lucair, "keys", "mint", "--tenant", name, "--name", "app", "--rpm", "100")
    assert minted.returncode == 0, minted.stderr
    key = minted.stdout.strip()
    assert key.startswith("sk-luc-") and len(key) == len("sk-luc-") + 43
    wait_for_status(lucair, key, 200)  # picked up by the server's version poll
    listing = cli(lucair, "keys", "list", "--tenant", name)
    assert key not in listing.stdout  # shown once, never again
    lineage = listing.stdout.splitlines()[1].split("\t")[1]
    rotated = cli(lucair, "keys", "rotate", lineage, "--tenant", name, "--grace-seconds", "0")
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    wait_for_status(lucair, key, 401)
    wait_for_status(lucair, new_key, 200)
    revoked = cli(lucair, "keys", "revoke", lineage, "--tenant", name)
    assert revoked.returncode == 0, revoked.stderr
    wait_for_status(lucair, new_key, 401)


def test_cli_errors_say_what_is_wrong(lucair) -> None:
    r = cli(lucair, "tenants", "create", unique("x"), "--plan", "platinum")
    assert r.returncode != 0 and "Unknown plan 'platinum'" in r.stderr
    r = cli(lucair, "keys", "mint", "--tenant", "no-such-tenant")
    assert r.returncode != 0 and "tenant" in r.stderr


def test_a_plain_key_cannot_administer(lucair) -> None:
    with lucair.http() as h:
        tid = h.post("/admin/v1/tenants", json={"name": unique("plain")}).json()["id"]
        key = h.post(f"/admin/v1/tenants/{tid}/keys", json={}).json()["key"]
    with lucair.http(api_key=key) as h:
        r = h.get("/admin/v1/tenants")
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_only"
