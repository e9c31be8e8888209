"""The Admin API end to end, on SQLite and on PostgreSQL: keys, workspaces, separation of
admin and API keys, rate-limit settings and every endpoint's refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import anthropic
import httpx
import pytest

from tests.conftest import stop_server
from tests.e2e.platform import (
    ADMIN_KEY,
    PlatformServer,
    ask,
    create_key,
    create_workspace,
    start_platform_server,
)
from tests.services import database_url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    with database_url(request.param) as url:
        process, server = start_platform_server(tmp_path_factory.mktemp("admin"), f"admin-{request.param}", url)
        yield server
        stop_server(process)


@pytest.fixture
def admin(platform: PlatformServer) -> Iterator[httpx.Client]:
    with platform.admin() as client:
        yield client


def test_organization_me_matches_the_header_every_response_carries(platform: PlatformServer) -> None:
    sdk = platform.admin_sdk()
    raw = sdk.organization.with_raw_response.retrieve()
    organization = raw.parse()
    assert organization.type == "organization" and organization.name == "antiphon"
    assert raw.headers["anthropic-organization-id"] == organization.id


def test_key_lifecycle_create_use_deactivate_reactivate_archive(platform: PlatformServer, admin: httpx.Client) -> None:
    workspace = create_workspace(admin, "lifecycle")
    created = create_key(admin, "ci runner", workspace["id"])
    secret = created.pop("key")
    assert created["status"] == "active" and created["workspace_id"] == workspace["id"]
    assert created["scope"] == {"type": "workspace", "workspace_id": workspace["id"]}
    assert created["partial_key_hint"].endswith(secret[-4:]) and secret not in str(created)
    client = platform.client(secret)
    assert ask(client).usage.output_tokens >= 1

    sdk = platform.admin_sdk()
    fetched = sdk.organization.api_keys.retrieve(created["id"])
    assert fetched.name == "ci runner" and fetched.status == "active"
    assert not hasattr(fetched, "key") or getattr(fetched, "key", None) is None  # shown once only
    listed = sdk.organization.api_keys.list(workspace_id=workspace["id"])
    assert [key.id for key in listed.data] == [created["id"]]

    assert sdk.organization.api_keys.update(created["id"], status="inactive").status == "inactive"
    with pytest.raises(anthropic.AuthenticationError):
        ask(client)
    assert sdk.organization.api_keys.update(created["id"], status="active", name="renamed").name == "renamed"
    assert ask(client).content is not None
    assert sdk.organization.api_keys.update(created["id"], status="archived").status == "archived"
    with pytest.raises(anthropic.AuthenticationError):
        ask(client)
    refused = admin.post(f"/v1/organizations/api_keys/{created['id']}", json={"status": "active"})
    assert refused.status_code == 400 and "archived" in refused.json()["error"]["message"]
    assert [k.id for k in sdk.organization.api_keys.list(status="archived", workspace_id=workspace["id"]).data] == [created["id"]]


def test_a_key_expires_at_its_time(platform: PlatformServer, admin: httpx.Client) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    created = create_key(admin, "short-lived", expires_at=expires.isoformat().replace("+00:00", "Z"))
    client = platform.client(created["key"])
    ask(client)
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    with pytest.raises(anthropic.AuthenticationError, match="expired"):
        ask(client)
    assert admin.get(f"/v1/organizations/api_keys/{created['id']}").json()["status"] == "expired"
    expired = admin.get("/v1/organizations/api_keys", params={"status": "expired"}).json()["data"]
    assert created["id"] in [key["id"] for key in expired]
    assert admin.post(f"/v1/organizations/api_keys/{created['id']}", json={"status": "active"}).status_code == 400


def test_admin_keys_and_api_keys_each_get_403_on_the_other_side(platform: PlatformServer, admin: httpx.Client) -> None:
    secret = create_key(admin, "ordinary")["key"]
    with platform.raw(secret) as ordinary:
        response = ordinary.get("/v1/organizations/me")
        assert response.status_code == 403 and response.json()["error"]["type"] == "permission_error"
        assert ordinary.get("/v1/organizations/api_keys").status_code == 403
    refused = admin.post("/v1/messages", json={"model": "smollm2-135m-instruct", "max_tokens": 1,
                                               "messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert admin.get("/v1/models").status_code == 403
    with pytest.raises(anthropic.PermissionDeniedError):
        platform.client(ADMIN_KEY).models.list()
    with pytest.raises(anthropic.AuthenticationError):
        platform.client("sk-antiphon-api01-guessed").organization.retrieve()
    assert httpx.get(f"{platform.url}/v1/organizations/me", headers={"anthropic-version": "2023-06-01"}).status_code == 401


def test_workspaces_create_list_page_update_archive(platform: PlatformServer, admin: httpx.Client) -> None:
    sdk = platform.admin_sdk()
    made = [sdk.organization.workspaces.create(name=f"team {i}") for i in range(3)]
    first = admin.get("/v1/organizations/workspaces", params={"limit": 2}).json()
    assert [w["id"] for w in first["data"]] == [made[2].id, made[1].id] and first["has_more"]
    after = admin.get("/v1/organizations/workspaces", params={"limit": 2, "after_id": first["last_id"]}).json()
    assert after["data"][0]["id"] == made[0].id
    before = admin.get("/v1/organizations/workspaces", params={"limit": 1, "before_id": made[1].id}).json()
    assert [w["id"] for w in before["data"]] == [made[2].id]
    with_default = admin.get("/v1/organizations/workspaces", params={"include_default": "true", "limit": 1000}).json()
    assert sum(w["name"] == "Default" for w in with_default["data"]) == 1

    updated = sdk.organization.workspaces.update(made[0].id, name="renamed", tags={"team": "ml"})
    assert updated.name == "renamed" and updated.tags == {"team": "ml"}
    assert sdk.organization.workspaces.update(made[0].id, tags={"team": None}).tags == {}
    secret = create_key(admin, "in team 0", made[0].id)["key"]
    archived = sdk.organization.workspaces.archive(made[0].id)
    assert archived.archived_at is not None
    with pytest.raises(anthropic.AuthenticationError):  # its keys were archived with it
        ask(platform.client(secret))
    listed = [w["id"] for w in admin.get("/v1/organizations/workspaces", params={"limit": 1000}).json()["data"]]
    assert made[0].id not in listed
    everything = admin.get("/v1/organizations/workspaces", params={"limit": 1000, "include_archived": "true"}).json()
    assert made[0].id in [w["id"] for w in everything["data"]]
    assert admin.post("/v1/organizations/api_keys", json={"name": "x", "workspace_id": made[0].id}).status_code == 400


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), [
    ("POST", "/v1/organizations/workspaces", {"name": ""}, 400, "name"),
    ("POST", "/v1/organizations/workspaces", {"name": "x" * 41}, 400, "name"),
    ("POST", "/v1/organizations/workspaces", {"name": "ok", "display_color": "red"}, 400, "display_color"),
    ("POST", "/v1/organizations/workspaces", {"name": "ok", "tags": {"anthropic-x": "1"}}, 400, "anthropic"),
    ("POST", "/v1/organizations/workspaces", {"name": "ok", "data_residency": {}}, 400, "data_residency"),
    ("POST", "/v1/organizations/workspaces", "not json", 400, "JSON"),
    ("GET", "/v1/organizations/workspaces/wrkspc_unknown", None, 404, "wrkspc_unknown"),
    ("POST", "/v1/organizations/workspaces/wrkspc_unknown", {"name": "x"}, 404, "wrkspc_unknown"),
    ("POST", "/v1/organizations/workspaces/wrkspc_unknown/archive", None, 404, "wrkspc_unknown"),
    ("GET", "/v1/organizations/workspaces?limit=0", None, 400, "limit"),
    ("GET", "/v1/organizations/workspaces?include_archived=yes", None, 400, "include_archived"),
    ("GET", "/v1/organizations/workspaces?after_id=wrkspc_gone", None, 400, "after_id"),
    ("GET", "/v1/organizations/workspaces?after_id=a&before_id=b", None, 400, "not both"),
    ("POST", "/v1/organizations/api_keys", {"name": "x", "workspace_id": "wrkspc_unknown"}, 404, "wrkspc_unknown"),
    ("POST", "/v1/organizations/api_keys", {"name": ""}, 400, "name"),
    ("POST", "/v1/organizations/api_keys", {}, 400, "name"),
    ("POST", "/v1/organizations/api_keys", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, 400, "future"),
    ("POST", "/v1/organizations/api_keys", {"name": "x", "expires_at": "soon"}, 400, "expires_at"),
    ("GET", "/v1/organizations/api_keys/apikey_unknown", None, 404, "apikey_unknown"),
    ("POST", "/v1/organizations/api_keys/apikey_unknown", {"name": "x"}, 404, "apikey_unknown"),
    ("GET", "/v1/organizations/api_keys?status=revoked", None, 400, "status"),
    ("GET", "/v1/organizations/api_keys?workspace_id=wrkspc_unknown", None, 404, "wrkspc_unknown"),
    ("GET", "/v1/organizations/api_keys?limit=1001", None, 400, "limit"),
    ("GET", "/v1/organizations/rate_limits?group_type=nope", None, 400, "group_type"),
    ("GET", "/v1/organizations/rate_limits?model=claude-unknown", None, 404, "claude-unknown"),
    ("GET", "/v1/organizations/workspaces/wrkspc_unknown/rate_limits", None, 404, "wrkspc_unknown"),
    ("GET", "/v1/organizations/usage_report/messages", None, 400, "starting_at"),
    ("GET", "/v1/organizations/usage_report/messages?starting_at=yesterday", None, 400, "starting_at"),
    ("GET", "/v1/organizations/usage_report/messages?starting_at=2026-01-01T00:00:00Z&bucket_width=2h", None, 400, "bucket_width"),
    ("GET", "/v1/organizations/usage_report/messages?starting_at=2026-01-01T00:00:00Z&group_by[]=user", None, 400, "group_by"),
    ("GET", "/v1/organizations/usage_report/messages?starting_at=2026-01-02T00:00:00Z&ending_at=2026-01-01T00:00:00Z", None, 400, "ending_at"),
    ("GET", "/v1/organizations/usage_report/messages?starting_at=2026-01-01T00:00:00Z&limit=32", None, 400, "limit"),
    ("GET", "/v1/organizations/cost_report?starting_at=2026-01-01T00:00:00Z&bucket_width=1h", None, 400, "bucket_width"),
    ("GET", "/v1/organizations/cost_report?starting_at=2026-01-01T00:00:00Z&group_by[]=model", None, 400, "group_by"),
    ("GET", "/v1/organizations/usage_report/messages?starting_at=2026-01-01T00:00:00Z&page=tomorrow", None, 400, "page"),
    ("GET", "/v1/organizations/workspaces/wrkspc_unknown/spend_limit", None, 404, "wrkspc_unknown"),
    ("POST", "/v1/organizations/workspaces/wrkspc_unknown/spend_limit", {"amount": "5"}, 404, "wrkspc_unknown"),
    ("POST", "/v1/organizations/workspaces/wrkspc_unknown/rate_limits/rl_antiphon_models",
     {"limits": [{"type": "requests_per_minute", "value": 5}]}, 404, "wrkspc_unknown"),
    ("DELETE", "/v1/organizations/workspaces", None, 405, "DELETE"),
    ("GET", "/v1/organizations/nothing_here", None, 404, "no route"),
])
def test_bad_admin_input_gets_its_documented_error(
    admin: httpx.Client, method: str, path: str, body: object, status: int, words: str
) -> None:
    if isinstance(body, str):
        response = admin.request(method, path, content=body, headers={"content-type": "application/json"})
    else:
        response = admin.request(method, path, json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["type"] == "error" and payload["request_id"].startswith("req_")
    assert words.lower() in payload["error"]["message"].lower(), payload


def test_api_key_update_refuses_bad_values(admin: httpx.Client) -> None:
    key = create_key(admin, "to update")
    for body, words in (({"status": "expired"}, "status"), ({"status": "gone"}, "status"),
                        ({"name": ""}, "name"), ({"workspace_id": "x"}, "workspace_id")):
        response = admin.post(f"/v1/organizations/api_keys/{key['id']}", json=body)
        assert response.status_code == 400 and words in response.json()["error"]["message"], response.text
    assert admin.get(f"/v1/organizations/api_keys/{key['id']}").json()["name"] == "to update"


def test_workspace_rate_limits_are_set_listed_and_cleared(platform: PlatformServer, admin: httpx.Client) -> None:
    sdk = platform.admin_sdk()
    organization = sdk.organization.rate_limits.list()
    (entry,) = organization.data
    assert entry.group.type == "model_group" and "smollm2-135m-instruct" in (entry.models or [])
    workspace = create_workspace(admin, "limited")
    assert sdk.organization.workspaces.rate_limits.list(workspace["id"]).data == []
    updated = sdk.organization.workspaces.rate_limits.update(
        entry.id, workspace_id=workspace["id"],
        limits=[{"type": "requests_per_minute", "value": 50}, {"type": "output_tokens_per_minute", "value": 900}],
    )
    assert {(v.type, v.value, v.source.type) for v in updated.limits} == {
        ("requests_per_minute", 50, "workspace"), ("output_tokens_per_minute", 900, "workspace")}
    sdk.organization.workspaces.rate_limits.update(
        entry.id, workspace_id=workspace["id"], limits=[{"type": "requests_per_minute", "value": None}])
    (listed,) = sdk.organization.workspaces.rate_limits.list(workspace["id"]).data
    assert [(v.type, v.value) for v in listed.limits] == [("output_tokens_per_minute", 900)]
    path = f"/v1/organizations/workspaces/{workspace['id']}/rate_limits/{entry.id}"
    for body, words in (({"limits": [{"type": "tokens_per_day", "value": 5}]}, "type"),
                        ({"limits": [{"type": "requests_per_minute", "value": 0}]}, "value"),
                        ({"limits": []}, "limits"),
                        ({"limits": [{"type": "requests_per_minute", "value": 1}] * 2}, "once")):
        response = admin.post(path, json=body)
        assert response.status_code == 400 and words in response.json()["error"]["message"], response.text
    missing = admin.post(f"/v1/organizations/workspaces/{workspace['id']}/rate_limits/rl_nope", json={"limits": []})
    assert missing.status_code == 404


def test_keys_of_one_workspace_are_invisible_in_another_workspace_listing(admin: httpx.Client) -> None:
    one, two = create_workspace(admin, "one"), create_workspace(admin, "two")
    key = create_key(admin, "belongs to one", one["id"])
    listed = admin.get("/v1/organizations/api_keys", params={"workspace_id": two["id"]}).json()
    assert listed["data"] == [] and key["id"] not in str(listed)
