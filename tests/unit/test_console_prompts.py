"""The Workbench's saved prompts (service and store), on SQLite and PostgreSQL: a member
saves, lists, reopens, replaces and deletes their own prompts only, within the bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from antiphon.errors import InvalidRequest, NotFound
from antiphon.services import console_prompts
from antiphon.services.console_prompts import MAX_BODY_CHARS, ConsolePromptService
from antiphon.services.members import MemberService
from antiphon.store.database import Database
from antiphon.store.members import InviteStore, UserStore

PASSWORD = "correct horse battery"


def _run(url: str, scenario: Callable[[ConsolePromptService, MemberService], Awaitable[None]]) -> None:
    async def main() -> None:
        database = await Database.open(url)
        try:
            await scenario(ConsolePromptService.over(database),
                           MemberService(UserStore(database), InviteStore(database)))
        finally:
            await database.close()

    asyncio.run(main())


def test_a_member_saves_lists_reopens_replaces_and_deletes(url: str) -> None:
    async def scenario(prompts: ConsolePromptService, members: MemberService) -> None:
        ada = await members.create_user("ada@example.com", None, "user", PASSWORD)
        first = await prompts.save(ada.id, "  Greeting  ", '{"system": "one"}')
        second = await prompts.save(ada.id, "Summary", '{"system": "two"}')
        assert first.name == "Greeting"  # trimmed
        assert [p.name for p in await prompts.list(ada.id)] == ["Summary", "Greeting"]

        replaced = await prompts.save(ada.id, "Greeting", '{"system": "three"}')
        assert replaced.id == first.id and replaced.updated_at >= second.updated_at
        assert [p.name for p in await prompts.list(ada.id)] == ["Greeting", "Summary"]
        opened = await prompts.open(ada.id, first.id)
        assert (opened.name, opened.body) == ("Greeting", '{"system": "three"}')

        await prompts.delete(ada.id, first.id)
        assert [p.id for p in await prompts.list(ada.id)] == [second.id]
        with pytest.raises(NotFound):
            await prompts.open(ada.id, first.id)
        with pytest.raises(NotFound):
            await prompts.delete(ada.id, first.id)

    _run(url, scenario)


def test_another_members_prompt_is_answered_as_unknown(url: str) -> None:
    async def scenario(prompts: ConsolePromptService, members: MemberService) -> None:
        ada = await members.create_user("ada@example.com", None, "user", PASSWORD)
        bob = await members.create_user("bob@example.com", None, "admin", PASSWORD)
        secret = await prompts.save(ada.id, "Mine", "{}")
        await prompts.save(bob.id, "Mine", '{"bob": true}')  # names are per member
        assert [p.name for p in await prompts.list(bob.id)] == ["Mine"]
        for attempt in (prompts.open(bob.id, secret.id), prompts.delete(bob.id, secret.id)):
            with pytest.raises(NotFound) as refused:
                await attempt
            assert "no saved prompt" in refused.value.message
        assert (await prompts.open(ada.id, secret.id)).body == "{}"

        await members.remove_user(ada.id)  # their prompts go with them
        with pytest.raises(NotFound):
            await prompts.open(ada.id, secret.id)

    _run(url, scenario)


def test_names_bodies_and_counts_are_bounded(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_prompts, "MAX_PROMPTS", 3)

    async def scenario(prompts: ConsolePromptService, members: MemberService) -> None:
        ada = await members.create_user("ada@example.com", None, "user", PASSWORD)
        for name in ("", "   ", "x" * 201):
            with pytest.raises(InvalidRequest, match="name"):
                await prompts.save(ada.id, name, "{}")
        with pytest.raises(InvalidRequest, match="KB"):
            await prompts.save(ada.id, "Huge", "x" * (MAX_BODY_CHARS + 1))
        assert await prompts.save(ada.id, "Biggest", "x" * MAX_BODY_CHARS)
        for name in ("Two", "Three"):
            await prompts.save(ada.id, name, "{}")
        with pytest.raises(InvalidRequest, match="saved prompts"):
            await prompts.save(ada.id, "Four", "{}")
        await prompts.save(ada.id, "Two", '{"again": 1}')  # replacing one still works
        assert len(await prompts.list(ada.id)) == 3

    _run(url, scenario)
