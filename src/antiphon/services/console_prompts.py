"""The Workbench's saved prompts, per member.

What this module guarantees, whoever calls it:
- A member sees, opens and deletes only their own prompts: another member's prompt id is
  answered exactly like an unknown one (NotFound), so ids reveal nothing.
- A prompt is a name (1 to 200 characters, trimmed, unique per member: saving under a name
  again replaces that prompt) and a body of at most `MAX_BODY_CHARS` characters; a member
  keeps at most `MAX_PROMPTS` of them. The body is the Workbench's state as JSON, checked
  by the HTTP layer; here it is text to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from antiphon.errors import InvalidRequest, NotFound
from antiphon.ids import new_id, utc_now
from antiphon.store.console_prompts import ConsolePromptStore
from antiphon.store.database import Database
from antiphon.store.tables import ConsolePromptRow

MAX_NAME_CHARS = 200
MAX_BODY_CHARS = 256 * 1024  # a long system prompt and conversation, not a corpus
MAX_PROMPTS = 200  # per member: the Workbench lists them all on one page


@dataclass(frozen=True)
class SavedPrompt:
    id: str
    name: str
    updated_at: datetime


@dataclass(frozen=True)
class OpenedPrompt:
    id: str
    name: str
    updated_at: datetime
    body: str


def prompt_name(name: str) -> str:
    """The name as stored, or InvalidRequest saying what is wrong with it."""
    name = name.strip()
    if not name:
        raise InvalidRequest("name: give the prompt a name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f"name: at most {MAX_NAME_CHARS} characters")
    return name


class ConsolePromptService:
    def __init__(self, store: ConsolePromptStore) -> None:
        self._store = store

    @classmethod
    def over(cls, database: Database) -> ConsolePromptService:
        return cls(ConsolePromptStore(database))

    async def list(self, user_id: str) -> list[SavedPrompt]:
        """The member's prompts, most recently saved first."""
        names = await self._store.names(user_id, MAX_PROMPTS)
        return [SavedPrompt(prompt_id, name, at) for prompt_id, name, at in names]

    async def open(self, user_id: str, prompt_id: str) -> OpenedPrompt:
        row = await self._store.get(user_id, prompt_id)
        if row is None:
            raise NotFound(f"prompt_id: no saved prompt with id {prompt_id!r}")
        return OpenedPrompt(row.id, row.name, row.updated_at, row.body)

    async def save(self, user_id: str, name: str, body: str) -> SavedPrompt:
        """Save `body` under `name` (replacing the member's prompt of that name)."""
        name = prompt_name(name)
        if len(body) > MAX_BODY_CHARS:
            raise InvalidRequest(f"prompt: at most {MAX_BODY_CHARS // 1024} KB of text can be saved")
        now = utc_now()
        row = ConsolePromptRow(id=new_id("prompt"), user_id=user_id, name=name, body=body,
                               created_at=now, updated_at=now)
        saved = await self._store.save(row, MAX_PROMPTS)
        if saved is None:
            raise InvalidRequest(f"you have {MAX_PROMPTS} saved prompts, the most one member may "
                                 "keep: delete some, or save under an existing name to replace it")
        return SavedPrompt(saved.id, saved.name, saved.updated_at)

    async def delete(self, user_id: str, prompt_id: str) -> None:
        if not await self._store.delete(user_id, prompt_id):
            raise NotFound(f"prompt_id: no saved prompt with id {prompt_id!r}")
