"""Skills API shapes."""

from __future__ import annotations

from typing import Literal

from antiphon.protocol.base import ResponseModel


class SkillSource(ResponseModel):
    type: Literal["custom"] = "custom"


class SkillObject(ResponseModel):
    type: Literal["skill"] = "skill"
    id: str
    display_name: str
    display_title: str  # the older name of display_name, still read by some clients
    latest_version: str  # the older name of latest_version_id
    latest_version_id: str
    source: SkillSource = SkillSource()
    created_at: str
    updated_at: str


class SkillVersionObject(ResponseModel):
    type: Literal["skill_version"] = "skill_version"
    id: str
    version: str
    skill_id: str
    name: str
    description: str
    directory: str
    created_at: str


class SkillPage(ResponseModel):
    data: list[SkillObject] | list[SkillVersionObject]
    has_more: bool
    next_page: str | None


class DeletedSkill(ResponseModel):
    type: Literal["skill_deleted"] = "skill_deleted"
    id: str


class DeletedSkillVersion(ResponseModel):
    type: Literal["skill_version_deleted"] = "skill_version_deleted"
    id: str
