"""The platform's tables. Changing one means writing an Alembic migration next to it.

Timestamps are timezone-aware UTC. Usage keeps `minute` (minutes since the Unix epoch) as an
integer beside the timestamp so that time buckets are integer division in SQL, which SQLite
and PostgreSQL compute alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out: SQLite keeps no time zone, so one is put back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class Organization(Base):
    """The one organisation of this installation (one row)."""

    __tablename__ = "organization"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    display_color: Mapped[str] = mapped_column(String(16))
    tags: Mapped[dict[str, Any]]
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]
    # Monthly spend limit in US cents; None: no limit.
    spend_limit_cents: Mapped[int | None] = mapped_column(BigInteger)


class ApiKey(Base):
    """API and admin keys. Only the SHA-256 of the secret is kept: keys are 256-bit random,
    so a fast hash is enough (a slow one would only slow every request)."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "api" | "admin"
    name: Mapped[str] = mapped_column(String(500))
    workspace_id: Mapped[str | None] = mapped_column(ForeignKey("workspaces.id"))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    partial_key_hint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # active | inactive | archived
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class RateLimitOverride(Base):
    """A workspace's own value for one limiter type (requests_per_minute, …)."""

    __tablename__ = "rate_limit_overrides"
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    limit_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class UsageRecord(Base):
    """One served request's token usage; the request id as key makes recording idempotent."""

    __tablename__ = "usage_records"
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    recorded_at: Mapped[datetime]
    minute: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(200))
    api_key_id: Mapped[str | None] = mapped_column(String(64))
    workspace_id: Mapped[str | None] = mapped_column(String(64))
    service_tier: Mapped[str] = mapped_column(String(16))
    uncached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_creation_5m_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_creation_1h_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_usage_minute", "minute"),
        Index("ix_usage_workspace_minute", "workspace_id", "minute"),
        Index("ix_usage_key_minute", "api_key_id", "minute"),  # a key's last use, by key
    )


class UsageDay(Base):
    """Usage records summed per UTC day and (model, key, workspace, tier), written in the
    same transaction as the records, so that reports over whole days read a few rows per
    day instead of every request. No key or no workspace is '' here (a NULL in a primary
    key would make every such row distinct)."""

    __tablename__ = "usage_days"
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # minute // 1440
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_tier: Mapped[str] = mapped_column(String(16), primary_key=True)
    uncached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_creation_5m_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_creation_1h_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)


class MessageThreadRow(Base):
    """A reply that a later request may continue (Message Threads): the conversation up to
    and including it, and the fields fixed when its thread was created. Each reply is
    continued at most once; once it is, its history moves on to the new reply's row and
    this one stays only to say so."""

    __tablename__ = "message_threads"
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    state: Mapped[str] = mapped_column(String(16))  # open, in_flight, continued
    fixed_fields: Mapped[str] = mapped_column(Text)  # JSON: system and tools
    history: Mapped[str | None] = mapped_column(Text)  # JSON messages; None once continued
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_message_threads_expires", "expires_at"),)


class StoredFile(Base):
    """An uploaded file's metadata; its bytes are in the blob store under `files/<id>`."""

    __tablename__ = "files"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    filename: Mapped[str] = mapped_column(String(500))
    mime_type: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    downloadable: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_files_workspace_created", "workspace_id", "created_at"),)


class SkillRow(Base):
    """A custom skill; its versions' files are zips in the blob store."""

    __tablename__ = "skills"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))  # the slug from SKILL.md, fixed at creation
    display_name: Mapped[str] = mapped_column(String(255))
    latest_version_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_skills_workspace_created", "workspace_id", "created_at"),)


class SkillVersionRow(Base):
    __tablename__ = "skill_versions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the version, e.g. 1763780000123456
    skill_id: Mapped[str] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(1024))
    directory: Mapped[str] = mapped_column(String(255))
    file_count: Mapped[int] = mapped_column(BigInteger)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class MessageBatchRow(Base):
    """A Message Batch. `request_counts` are written once it ends; until then every request
    counts as processing, as the hosted API reports them. Its results are a JSONL blob under
    `batches/<id>.jsonl` once ended."""

    __tablename__ = "message_batches"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"))
    api_key_id: Mapped[str | None] = mapped_column(String(64))  # whose usage its requests are
    processing_status: Mapped[str] = mapped_column(String(16))  # in_progress | canceling | ended
    request_total: Mapped[int] = mapped_column(BigInteger)
    request_counts: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    cancel_initiated_at: Mapped[datetime | None]
    # Ending a batch (writing its results) is claimed like a request, so one replica does it.
    finalizing_until: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_batches_workspace_created", "workspace_id", "created_at"),
        Index("ix_batches_status", "processing_status"),
    )


# SQLite autoincrements only an INTEGER primary key.
_SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")


class BatchRequestRow(Base):
    """One request of a batch, from queued to answered. `seq` orders all batches' requests
    first in, first out; a worker holds a running request until `lease_until`, then it is
    anybody's again (its worker died)."""

    __tablename__ = "message_batch_requests"
    seq: Mapped[int] = mapped_column(_SEQUENCE, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("message_batches.id", ondelete="CASCADE"))
    custom_id: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)  # the request's JSON, validated at creation
    # pending | running | succeeded | errored | canceled | expired
    state: Mapped[str] = mapped_column(String(16))
    worker_id: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)  # the result object's JSON once answered

    __table_args__ = (
        UniqueConstraint("batch_id", "custom_id", name="uq_batch_requests_custom_id"),
        Index("ix_batch_requests_state_seq", "state", "seq"),
        Index("ix_batch_requests_batch_state", "batch_id", "state"),
        Index("ix_batch_requests_batch_seq", "batch_id", "seq"),  # results in order, by pages
    )


class UserRow(Base):
    """A member of the organisation. `email` is kept normalised (trimmed, lower case) so
    that one address is one member however it was typed. `password_hash` names its KDF and
    parameters (services/passwords.py); None: the user cannot sign in with a password."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]  # the API's `added_at`


class InviteRow(Base):
    """An invitation to join. Only the SHA-256 of its one-time token is kept (the token is
    256-bit random, like an API key's secret). Its status is derived: accepted once
    `accepted_at` is set, expired after `expires_at`, pending until then."""

    __tablename__ = "invites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(32))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]  # the API's `invited_at`
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_invites_email", "email"),)


class ConsoleSessionRow(Base):
    """A signed-in Console session, found by the SHA-256 of its random token."""

    __tablename__ = "console_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    last_seen: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (Index("ix_console_sessions_user", "user_id"),)


class SignInFailureRow(Base):
    """One failed sign-in, by the SHA-256 of the normalised email it named (known or not),
    so that failures are counted across replicas without storing what strangers typed."""

    __tablename__ = "sign_in_failures"
    seq: Mapped[int] = mapped_column(_SEQUENCE, primary_key=True, autoincrement=True)
    email_sha256: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime]

    __table_args__ = (Index("ix_sign_in_failures_email", "email_sha256", "failed_at"),)


class WorkspaceMemberRow(Base):
    """A user's membership of a workspace. A Console member with memberships works only in
    those workspaces; one with none (and every admin) works in all of them."""

    __tablename__ = "workspace_members"
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    workspace_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_workspace_members_user", "user_id"),)


class ConsolePromptRow(Base):
    """A Workbench prompt a member saved: its name (one per name and member, so saving
    under a name again replaces it) and the Workbench's state as JSON, bounded in size by
    services/console_prompts. A removed member's prompts go with them."""

    __tablename__ = "console_prompts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_console_prompts_user_name"),)
