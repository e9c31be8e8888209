"""`GET /openapi.json`: the API as an OpenAPI 3.1 document, generated from the same pydantic
models the routes validate requests with and build responses from, so it cannot drift from
what the server does. Schemathesis fuzzes the server from it (tests/e2e/test_fuzzing.py).

Each operation lists every status the server may answer it with; errors share one envelope
(`ErrorBody`). Create → read → delete chains are declared as OpenAPI links, so a stateful
fuzzer follows them with real ids.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from antiphon import __version__
from antiphon.protocol import (
    admin,
    batches,
    complete,
    files,
    members,
    messages,
    models,
    reports,
    skills,
)
from antiphon.protocol.errors import ErrorBody
from antiphon.protocol.openai import ChatCompletionRequest
from antiphon.protocol.openai_responses import ChatCompletion, OpenAIErrorBody

_REF = "#/components/schemas/{model}"
# What any operation may answer besides its success: the error table (http/errors.py).
_ERRORS = {
    "400": "Invalid request", "401": "Missing or invalid key", "402": "Spend limit reached",
    "403": "Key not allowed here", "404": "Unknown id", "408": "Request too slow",
    "409": "Conflicting state", "413": "Request too large", "415": "Unsupported encoding",
    "429": "Rate limited", "431": "Headers too large", "500": "Internal or engine failure",
    "507": "No room to store", "529": "Overloaded",
}


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    where: str = "query"
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    body: type[BaseModel] | None = None  # a JSON body
    multipart: dict[str, Any] | None = None  # a multipart/form-data body's schema
    response: type[BaseModel] | None = None  # the 200's JSON body
    media: str = "application/json"  # the 200's media type when it is not a model
    streams: bool = False  # the 200 may also be text/event-stream (`stream: true`)
    openai: bool = False  # errors in OpenAI's envelope
    params: tuple[Param, ...] = ()
    links: dict[str, dict[str, Any]] = field(default_factory=dict)


def _path_param(name: str) -> Param:
    return Param(name, {"type": "string", "minLength": 1}, where="path", required=True)


_LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000})
_PAGES = (_LIMIT, Param("after_id", {"type": "string"}), Param("before_id", {"type": "string"}))
_FILE, _SKILL, _VERSION, _BATCH = (
    _path_param("file_id"), _path_param("skill_id"), _path_param("version"), _path_param("batch_id")
)
_WORKSPACE, _KEY = _path_param("workspace_id"), _path_param("api_key_id")
_USER, _INVITE = _path_param("user_id"), _path_param("invite_id")
_MEMBERS = "/v1/organizations/workspaces/{workspace_id}/members"
_MEMBER_FILTERS = (*_PAGES, Param("email", {"type": "string"}),
                   Param("roles[]", {"type": "array", "items": {"type": "string"}}))
_FILE_UPLOAD = {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}},
}
_SKILL_UPLOAD = {
    "type": "object", "required": ["files[]"],
    "properties": {
        "files[]": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "display_title": {"type": "string"},
    },
}
_REPORT = (
    Param("starting_at", {"type": "string", "format": "date-time"}, required=True),
    Param("ending_at", {"type": "string", "format": "date-time"}),
    Param("bucket_width", {"type": "string", "enum": ["1m", "1h", "1d"]}),
    _LIMIT, Param("page", {"type": "string"}),
)


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


_BY_FILE = {"GetFile": _link("getFile", file_id="$response.body#/id"),
            "DeleteFile": _link("deleteFile", file_id="$response.body#/id")}
_BY_SKILL = {"GetSkill": _link("getSkill", skill_id="$response.body#/id"),
             "ListVersions": _link("listSkillVersions", skill_id="$response.body#/id"),
             "AddVersion": _link("createSkillVersion", skill_id="$response.body#/id"),
             "GetLatest": _link("getSkillVersion", skill_id="$response.body#/id",
                                version="$response.body#/latest_version_id"),
             "DownloadLatest": _link("downloadSkillVersion", skill_id="$response.body#/id",
                                     version="$response.body#/latest_version_id"),
             "DeleteSkill": _link("deleteSkill", skill_id="$response.body#/id")}
_BY_VERSION = {name: _link(operation, skill_id="$response.body#/skill_id",
                           version="$response.body#/version")
               for name, operation in (("GetVersion", "getSkillVersion"),
                                       ("DeleteVersion", "deleteSkillVersion"))}
_BY_BATCH = {"GetBatch": _link("getBatch", batch_id="$response.body#/id"),
             "CancelBatch": _link("cancelBatch", batch_id="$response.body#/id"),
             "Results": _link("batchResults", batch_id="$response.body#/id"),
             "DeleteBatch": _link("deleteBatch", batch_id="$response.body#/id")}
_BY_INVITE = {"GetInvite": _link("getInvite", invite_id="$response.body#/id"),
              "DeleteInvite": _link("deleteInvite", invite_id="$response.body#/id")}
_BY_WORKSPACE = {"GetWorkspace": _link("getWorkspace", workspace_id="$response.body#/id"),
                 "GetSpendLimit": _link("getSpendLimit", workspace_id="$response.body#/id")}

OPERATIONS = (
    Operation("post", "/v1/messages", "createMessage", "Create a message",
              body=messages.MessagesRequest, response=messages.Message, streams=True),
    Operation("post", "/v1/messages/count_tokens", "countTokens", "Count a request's tokens",
              body=messages.CountTokensRequest, response=messages.TokenCount),
    Operation("post", "/v1/complete", "createCompletion", "Legacy text completion",
              body=complete.CompletionRequest, response=complete.Completion, streams=True),
    Operation("get", "/v1/models", "listModels", "List models", response=models.ModelList,
              params=_PAGES),
    Operation("get", "/v1/models/{model_id}", "getModel", "Get a model", response=models.ModelInfo,
              params=(_path_param("model_id"),)),
    Operation("post", "/v1/files", "uploadFile", "Upload a file", multipart=_FILE_UPLOAD,
              response=files.FileObject, links=_BY_FILE),
    Operation("get", "/v1/files", "listFiles", "List files", response=files.FileList, params=_PAGES),
    Operation("get", "/v1/files/{file_id}", "getFile", "Get a file's metadata",
              response=files.FileObject, params=(_FILE,)),
    Operation("delete", "/v1/files/{file_id}", "deleteFile", "Delete a file",
              response=files.DeletedFile, params=(_FILE,)),
    Operation("get", "/v1/files/{file_id}/content", "downloadFile", "Download a file",
              media="*/*", params=(_FILE,)),  # served as the type told from its bytes
    Operation("post", "/v1/skills", "createSkill", "Create a skill", multipart=_SKILL_UPLOAD,
              response=skills.SkillObject, links=_BY_SKILL),
    Operation("get", "/v1/skills", "listSkills", "List skills", response=skills.SkillPage,
              params=_PAGES),
    Operation("get", "/v1/skills/{skill_id}", "getSkill", "Get a skill",
              response=skills.SkillObject, params=(_SKILL,)),
    Operation("delete", "/v1/skills/{skill_id}", "deleteSkill", "Delete a skill",
              response=skills.DeletedSkill, params=(_SKILL,)),
    Operation("post", "/v1/skills/{skill_id}/versions", "createSkillVersion", "Add a version",
              multipart=_SKILL_UPLOAD, response=skills.SkillVersionObject, params=(_SKILL,),
              links=_BY_VERSION),
    Operation("get", "/v1/skills/{skill_id}/versions", "listSkillVersions", "List versions",
              response=skills.SkillPage, params=(_SKILL, *_PAGES)),
    Operation("get", "/v1/skills/{skill_id}/versions/{version}", "getSkillVersion",
              "Get a version", response=skills.SkillVersionObject, params=(_SKILL, _VERSION)),
    Operation("delete", "/v1/skills/{skill_id}/versions/{version}", "deleteSkillVersion",
              "Delete a version", response=skills.DeletedSkillVersion, params=(_SKILL, _VERSION)),
    Operation("get", "/v1/skills/{skill_id}/versions/{version}/content", "downloadSkillVersion",
              "Download a version as a zip", media="application/zip", params=(_SKILL, _VERSION)),
    Operation("post", "/v1/messages/batches", "createBatch", "Create a message batch",
              body=batches.BatchCreateRequest, response=batches.MessageBatch, links=_BY_BATCH),
    Operation("get", "/v1/messages/batches", "listBatches", "List message batches",
              response=batches.MessageBatchList, params=_PAGES),
    Operation("get", "/v1/messages/batches/{batch_id}", "getBatch", "Get a message batch",
              response=batches.MessageBatch, params=(_BATCH,)),
    Operation("delete", "/v1/messages/batches/{batch_id}", "deleteBatch", "Delete a batch",
              response=batches.DeletedMessageBatch, params=(_BATCH,)),
    Operation("post", "/v1/messages/batches/{batch_id}/cancel", "cancelBatch", "Cancel a batch",
              response=batches.MessageBatch, params=(_BATCH,)),
    Operation("get", "/v1/messages/batches/{batch_id}/results", "batchResults",
              "A batch's results (JSONL)", media="application/x-jsonl", params=(_BATCH,)),
    Operation("post", "/v1/chat/completions", "createChatCompletion",
              "OpenAI-compatible chat completion", body=ChatCompletionRequest,
              response=ChatCompletion, streams=True, openai=True),
    Operation("get", "/v1/organizations/me", "getOrganization", "This organisation",
              response=admin.OrganizationInfo),
    Operation("get", "/v1/organizations/workspaces", "listWorkspaces", "List workspaces",
              response=admin.ListPage, params=(*_PAGES, Param("include_archived", {"type": "boolean"}))),
    Operation("post", "/v1/organizations/workspaces", "createWorkspace", "Create a workspace",
              body=admin.WorkspaceCreate, response=admin.WorkspaceObject, links=_BY_WORKSPACE),
    Operation("get", "/v1/organizations/workspaces/{workspace_id}", "getWorkspace",
              "Get a workspace", response=admin.WorkspaceObject, params=(_WORKSPACE,)),
    Operation("post", "/v1/organizations/workspaces/{workspace_id}", "updateWorkspace",
              "Update a workspace", body=admin.WorkspaceUpdate, response=admin.WorkspaceObject,
              params=(_WORKSPACE,)),
    Operation("post", "/v1/organizations/workspaces/{workspace_id}/archive", "archiveWorkspace",
              "Archive a workspace (and its keys)", response=admin.WorkspaceObject,
              params=(_WORKSPACE,)),
    Operation("get", "/v1/organizations/rate_limits", "listOrganizationRateLimits",
              "The organisation's rate limits", response=admin.CursorPage,
              params=(Param("group_type", {"type": "string"}),)),
    Operation("get", "/v1/organizations/workspaces/{workspace_id}/rate_limits",
              "listWorkspaceRateLimits", "A workspace's rate limits", response=admin.CursorPage,
              params=(_WORKSPACE, Param("group_type", {"type": "string"}))),
    Operation("post", "/v1/organizations/workspaces/{workspace_id}/rate_limits/{rate_limit_id}",
              "updateWorkspaceRateLimit", "Set a workspace's rate limit",
              body=admin.RateLimitUpdate, response=admin.WorkspaceRateLimit,
              params=(_WORKSPACE, _path_param("rate_limit_id"))),
    Operation("get", "/v1/organizations/workspaces/{workspace_id}/spend_limit", "getSpendLimit",
              "A workspace's spend limit", response=admin.SpendLimitObject, params=(_WORKSPACE,)),
    Operation("post", "/v1/organizations/workspaces/{workspace_id}/spend_limit", "setSpendLimit",
              "Set a workspace's spend limit", body=admin.SpendLimitUpdate,
              response=admin.SpendLimitObject, params=(_WORKSPACE,)),
    Operation("get", "/v1/organizations/api_keys", "listApiKeys", "List API keys",
              response=admin.ListPage, params=_PAGES),
    Operation("post", "/v1/organizations/api_keys", "createApiKey", "Create an API key",
              body=admin.ApiKeyCreate, response=admin.CreatedApiKey),
    Operation("get", "/v1/organizations/api_keys/{api_key_id}", "getApiKey", "Get an API key",
              response=admin.ApiKeyObject, params=(_KEY,)),
    Operation("post", "/v1/organizations/api_keys/{api_key_id}", "updateApiKey",
              "Update an API key", body=admin.ApiKeyUpdate, response=admin.ApiKeyObject,
              params=(_KEY,)),
    Operation("get", "/v1/organizations/users", "listUsers", "List the organisation's users",
              response=admin.ListPage, params=_MEMBER_FILTERS),
    Operation("get", "/v1/organizations/users/{user_id}", "getUser", "Get a user",
              response=members.UserObject, params=(_USER,)),
    Operation("post", "/v1/organizations/users/{user_id}", "updateUser", "Change a user's role",
              body=members.UserUpdate, response=members.UserObject, params=(_USER,)),
    Operation("delete", "/v1/organizations/users/{user_id}", "removeUser", "Remove a user",
              response=members.UserDeleted, params=(_USER,)),
    Operation("get", "/v1/organizations/invites", "listInvites", "List invites",
              response=admin.ListPage, params=(*_MEMBER_FILTERS, Param(
                  "statuses[]", {"type": "array", "items": {"type": "string"}}))),
    Operation("post", "/v1/organizations/invites", "createInvite", "Invite a user",
              body=members.InviteCreate, response=members.CreatedInvite, links=_BY_INVITE),
    Operation("get", "/v1/organizations/invites/{invite_id}", "getInvite", "Get an invite",
              response=members.InviteObject, params=(_INVITE,)),
    Operation("delete", "/v1/organizations/invites/{invite_id}", "deleteInvite", "Delete an invite",
              response=members.InviteDeleted, params=(_INVITE,)),
    Operation("get", _MEMBERS, "listWorkspaceMembers", "List a workspace's members",
              response=admin.ListPage, params=(_WORKSPACE, *_PAGES)),
    Operation("post", _MEMBERS, "addWorkspaceMember", "Add a workspace member",
              body=members.WorkspaceMemberAdd, response=members.WorkspaceMemberObject,
              params=(_WORKSPACE,)),
    Operation("get", _MEMBERS + "/{user_id}", "getWorkspaceMember", "Get a workspace member",
              response=members.WorkspaceMemberObject, params=(_WORKSPACE, _USER)),
    Operation("post", _MEMBERS + "/{user_id}", "updateWorkspaceMember",
              "Change a workspace member's role", body=members.WorkspaceMemberUpdate,
              response=members.WorkspaceMemberObject, params=(_WORKSPACE, _USER)),
    Operation("delete", _MEMBERS + "/{user_id}", "removeWorkspaceMember",
              "Remove a workspace member", response=members.WorkspaceMemberDeleted,
              params=(_WORKSPACE, _USER)),
    Operation("get", "/v1/organizations/usage_report/messages", "usageReport", "Usage report",
              response=reports.UsageReport, params=_REPORT),
    Operation("get", "/v1/organizations/cost_report", "costReport", "Cost report",
              response=reports.CostReport, params=_REPORT),
)


def _components() -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], Any]] = [
        (ErrorBody, "serialization"), (OpenAIErrorBody, "serialization"),
    ]
    for operation in OPERATIONS:
        if operation.body is not None:
            wanted.append((operation.body, "validation"))
        if operation.response is not None:
            wanted.append((operation.response, "serialization"))
    _, schema = models_json_schema(wanted, ref_template=_REF)
    return dict(schema.get("$defs", {}))


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _responses(operation: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {}
    if operation.response is not None:
        success["application/json"] = {"schema": _ref(operation.response)}
    else:
        success[operation.media] = {"schema": {"type": "string"}}
    if operation.streams:
        success["text/event-stream"] = {"schema": {"type": "string"}}
    ok: dict[str, Any] = {"description": "Success", "content": success}
    if operation.links:
        ok["links"] = operation.links
    error = {"application/json": {"schema": _ref(OpenAIErrorBody if operation.openai else ErrorBody)}}
    return {"200": ok, **{status: {"description": why, "content": error}
                          for status, why in _ERRORS.items()}}


def _operation(operation: Operation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "operationId": operation.operation_id, "summary": operation.summary,
        "responses": _responses(operation),
    }
    if operation.params:
        document["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.required, "schema": p.schema}
            for p in operation.params
        ]
    if operation.body is not None:
        document["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _ref(operation.body)}}}
    elif operation.multipart is not None:
        document["requestBody"] = {"required": True, "content": {
            "multipart/form-data": {"schema": operation.multipart}}}
    return document


@functools.cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {"title": "antiphon", "version": __version__,
                 "description": "A self-hosted Claude API (and OpenAI chat completions)."},
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
        "security": [{"ApiKey": []}],
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())
