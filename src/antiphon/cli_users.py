"""`antiphon users …`: the organisation's members in the terminal, on the store the server
uses (the same options as `antiphon keys`). This is how the first admin of the web Console
is made: nobody can accept an invite before someone can sign in to send one.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.table import Table

from antiphon.cli_platform import ConfigFile, DatabaseUrl, DataDir, err, out, run_on_store
from antiphon.config import Settings
from antiphon.ids import rfc3339
from antiphon.services.members import ROLES, MemberService
from antiphon.services.passwords import MIN_PASSWORD_CHARS
from antiphon.store.database import Database
from antiphon.store.members import InviteStore, UserStore
from antiphon.store.pages import PageRequest

users_app = typer.Typer(help="Create and list the organisation's users.", no_args_is_help=True)


def _members(database: Database) -> MemberService:
    return MemberService(UserStore(database), InviteStore(database))


def _read_password(from_stdin: bool) -> str:
    """From stdin (one line; its line break is not part of it), or typed twice unseen."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt(f"Password (at least {MIN_PASSWORD_CHARS} characters)",
                            hide_input=True, confirmation_prompt=True, err=True))


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's email address (their sign-in name).")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "user",
    name: Annotated[Optional[str], typer.Option(help="Display name (default: the email's local part).")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input instead of prompting.")] = False,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Create a user who can sign in with a password, and print their id."""
    password = _read_password(password_stdin)

    async def work(database: Database, _: Settings) -> str:
        user = await _members(database).create_user(email, name, role, password)
        err.print(f"created {user.role} {user.email}")
        return user.id

    out.print(run_on_store(data_dir, database_url, config, work))


@users_app.command("list")
def users_list(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """List the organisation's users, newest first."""
    async def work(database: Database, _: Settings) -> Table:
        page = await _members(database).list_users(PageRequest(1000), None, ())
        table = Table("id", "email", "name", "role", "added")
        for user in page.rows:
            table.add_row(user.id, user.email, user.name, user.role, rfc3339(user.created_at))
        return table

    out.print(run_on_store(data_dir, database_url, config, work))
