"""Passwords, invites, sign-in limits, sessions and CSRF for the Console (services only),
on SQLite and PostgreSQL where a store is involved."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from antiphon.errors import (
    AlreadyMember,
    AuthenticationFailed,
    InvalidRequest,
    LastAdmin,
    RateLimited,
)
from antiphon.services import passwords
from antiphon.services.console_auth import ConsoleAuth, build_console_auth
from antiphon.services.members import MemberService
from antiphon.store.database import Database
from antiphon.store.members import InviteStore, UserStore

PASSWORD = "correct horse battery"
SECRET = b"s" * 32


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def _run(url: str, scenario: Callable[[Database, MemberService, ConsoleAuth, Clock], Awaitable[None]]) -> None:
    async def main() -> None:
        database = await Database.open(url)
        clock = Clock()
        auth = build_console_auth(database, SECRET, clock)
        try:
            await scenario(database, MemberService(UserStore(database), InviteStore(database)), auth, clock)
        finally:
            await database.close()

    asyncio.run(main())


def test_a_hash_names_its_parameters_and_verifies_only_its_password() -> None:
    stored = passwords.hash_password(PASSWORD)
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1") and PASSWORD not in stored
    assert passwords.verify_password(PASSWORD, stored)
    assert not passwords.verify_password(PASSWORD + "!", stored)
    assert passwords.hash_password(PASSWORD) != stored  # a fresh salt each time
    assert not passwords.needs_rehash(stored)


def test_older_parameters_still_verify_and_ask_to_be_rehashed() -> None:
    weaker = passwords.hash_password(PASSWORD, passwords.ScryptParams(n=2**10, r=8, p=1))
    assert passwords.verify_password(PASSWORD, weaker) and passwords.needs_rehash(weaker)


@pytest.mark.parametrize("stored", [None, "", "bcrypt$x", "scrypt$16384$8$1$!!$!!", "scrypt$3$8$1$AA$AA",
                                    "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43])
def test_no_hash_or_a_damaged_one_costs_a_full_derivation_and_fails(
    stored: str | None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = passwords.hashlib.scrypt

    def counting(*args: object, **kwargs: int) -> bytes:
        calls.append(kwargs["n"])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(passwords.hashlib, "scrypt", counting)
    assert not passwords.verify_password(PASSWORD, stored)
    assert calls == [passwords.CURRENT.n]  # the dummy, with today's parameters


@pytest.mark.parametrize("password", ["", "short", "x" * 1025])
def test_passwords_outside_the_policy_are_refused(password: str) -> None:
    with pytest.raises(InvalidRequest, match="password"):
        passwords.check_password_policy(password)


def test_an_invite_is_accepted_once_and_then_its_user_signs_in(url: str) -> None:
    async def scenario(_: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        invite, token = await members.create_invite(" New@Example.COM ", "developer")
        assert invite.email == "new@example.com" and token not in invite.token_sha256
        user = await auth.accept_invite(token, "New Person", PASSWORD)
        assert (user.email, user.name, user.role) == ("new@example.com", "New Person", "developer")
        assert (await members.get_invite(invite.id)).accepted_at is not None
        with pytest.raises(InvalidRequest, match="accepted already"):
            await auth.accept_invite(token, None, PASSWORD)
        signed_in = await auth.sign_in("NEW@example.com", PASSWORD)
        assert signed_in.session.user == user
        with pytest.raises(AlreadyMember):
            await members.create_invite("new@example.com", "user")

    _run(url, scenario)


def test_expired_deleted_and_unknown_invites_are_refused(url: str) -> None:
    async def scenario(database: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        _, expiring = await members.create_invite("late@example.com", "user")
        clock.advance(timedelta(days=21, seconds=1))
        with pytest.raises(InvalidRequest, match="expired"):
            await auth.accept_invite(expiring, None, PASSWORD)
        deleted, token = await members.create_invite("gone@example.com", "user")
        await members.delete_invite(deleted.id)
        with pytest.raises(AuthenticationFailed, match="not valid"):
            await auth.accept_invite(token, None, PASSWORD)
        with pytest.raises(AuthenticationFailed):
            await auth.accept_invite("antiphon-invite01-guessed", None, PASSWORD)
        _, weak = await members.create_invite("weak@example.com", "user")
        with pytest.raises(InvalidRequest, match="password"):
            await auth.accept_invite(weak, None, "short")
        assert await UserStore(database).by_email("weak@example.com") is None

    _run(url, scenario)


def test_two_concurrent_acceptances_make_one_user(url: str) -> None:
    async def scenario(database: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        _, token = await members.create_invite("race@example.com", "user")
        outcomes = await asyncio.gather(*(auth.accept_invite(token, None, PASSWORD) for _ in range(3)),
                                        return_exceptions=True)
        assert sum(not isinstance(outcome, Exception) for outcome in outcomes) == 1, outcomes
        assert all(isinstance(o, InvalidRequest) for o in outcomes if isinstance(o, Exception)), outcomes

    _run(url, scenario)


def test_unknown_emails_cost_the_same_derivation_as_wrong_passwords(
    url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real = passwords._derive
    monkeypatch.setattr(passwords, "_derive", lambda *a, **k: calls.append("kdf") or real(*a, **k))

    async def scenario(_: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        await members.create_user("known@example.com", None, "user", PASSWORD)
        for email in ("known@example.com", "stranger@example.com", "not an email", "nul\x00@example.com"):
            calls.clear()
            with pytest.raises(AuthenticationFailed, match="wrong email or password"):
                await auth.sign_in(email, "wrong password")
            assert calls == ["kdf"], email

    _run(url, scenario)


def test_five_failures_in_fifteen_minutes_refuse_sign_in_until_the_oldest_ages_out(url: str) -> None:
    async def scenario(_: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        await members.create_user("target@example.com", None, "user", PASSWORD)
        for _ in range(5):
            with pytest.raises(AuthenticationFailed):
                await auth.sign_in("target@example.com", "guess")
            clock.advance(timedelta(minutes=1))
        with pytest.raises(RateLimited) as refused:  # even the right password now
            await auth.sign_in("Target@example.com", PASSWORD)
        # The first failure was 5 minutes ago: it counts for 10 minutes more.
        assert refused.value.retry_after_seconds == pytest.approx(600, abs=1)
        assert "600 seconds" in refused.value.message
        for _ in range(3):  # strangers' emails are limited alike
            with pytest.raises(AuthenticationFailed):
                await auth.sign_in("nobody@example.com", "guess")
        with pytest.raises(AuthenticationFailed):  # another email is not affected
            await auth.sign_in("nobody@example.com", "guess")
        clock.advance(timedelta(minutes=10))
        signed_in = await auth.sign_in("target@example.com", PASSWORD)
        assert signed_in.session.user.email == "target@example.com"
        for _ in range(4):  # success forgot the failures: four more are allowed again
            with pytest.raises(AuthenticationFailed):
                await auth.sign_in("target@example.com", "guess")
        await auth.sign_in("target@example.com", PASSWORD)

    _run(url, scenario)


def test_sessions_are_looked_up_touched_expired_and_revoked(url: str) -> None:
    async def scenario(_: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        user = await members.create_user("s@example.com", "S", "admin", PASSWORD)
        first = await auth.sign_in("s@example.com", PASSWORD)
        second = await auth.sign_in("s@example.com", PASSWORD)
        assert first.session_token != second.session_token
        started = clock.now
        clock.advance(timedelta(seconds=30))
        looked_up = await auth.session(first.session_token)
        assert looked_up is not None and looked_up.user.id == user.id
        assert looked_up.last_seen == started  # written at most once a minute
        clock.advance(timedelta(minutes=1))
        touched = await auth.session(first.session_token)
        assert touched is not None and touched.last_seen == clock.now
        assert await auth.session("antiphon-session01-unknown") is None

        assert await auth.sign_out(first.session_token)
        assert await auth.session(first.session_token) is None
        assert not await auth.sign_out(first.session_token)
        assert await auth.session(second.session_token) is not None

        clock.advance(timedelta(days=14))
        assert await auth.session(second.session_token) is None  # expired

    _run(url, scenario)


def test_removing_a_user_ends_all_their_sessions(url: str) -> None:
    async def scenario(_: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        admin = await members.create_user("admin@example.com", None, "admin", PASSWORD)
        leaving = await members.create_user("leaving@example.com", None, "developer", PASSWORD)
        tokens = [(await auth.sign_in("leaving@example.com", PASSWORD)).session_token for _ in range(2)]
        kept = (await auth.sign_in("admin@example.com", PASSWORD)).session_token
        await members.remove_user(leaving.id)
        assert [await auth.session(token) for token in tokens] == [None, None]
        assert await auth.session(kept) is not None
        with pytest.raises(AuthenticationFailed):
            await auth.sign_in("leaving@example.com", PASSWORD)
        assert await auth.sign_out_everywhere(admin.id) == 1
        assert await auth.session(kept) is None

    _run(url, scenario)


def test_the_last_admin_is_neither_removed_nor_demoted(url: str) -> None:
    async def scenario(_: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        only = await members.create_user("only@example.com", None, "admin", PASSWORD)
        with pytest.raises(LastAdmin):
            await members.remove_user(only.id)
        with pytest.raises(LastAdmin):
            await members.set_role(only.id, "developer")
        other = await members.create_user("other@example.com", None, "developer", PASSWORD)
        assert (await members.set_role(other.id, "admin")).role == "admin"
        assert (await members.set_role(only.id, "user")).role == "user"
        with pytest.raises(LastAdmin):
            await members.remove_user(other.id)
        await members.remove_user(only.id)

    _run(url, scenario)


def test_admins_removed_and_demoted_at_once_leave_one(url: str) -> None:
    async def scenario(_: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        admins = [await members.create_user(f"a{i}@example.com", None, "admin", PASSWORD) for i in range(3)]
        outcomes = await asyncio.gather(
            members.remove_user(admins[0].id), members.set_role(admins[1].id, "user"),
            members.remove_user(admins[2].id), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, Exception)]
        assert len(failures) == 1, outcomes
        assert isinstance(failures[0], LastAdmin), failures

    _run(url, scenario)


def test_the_csrf_token_belongs_to_its_session_and_server_secret(url: str) -> None:
    async def scenario(database: Database, members: MemberService, auth: ConsoleAuth, clock: Clock) -> None:
        await members.create_user("c@example.com", None, "user", PASSWORD)
        one, two = [await auth.sign_in("c@example.com", PASSWORD) for _ in range(2)]
        assert one.csrf_token == auth.csrf_token(one.session_token) != two.csrf_token
        assert auth.check_csrf(one.session_token, one.csrf_token)
        assert not auth.check_csrf(one.session_token, two.csrf_token)
        for presented in (None, "", one.csrf_token[:-1], one.csrf_token + "x", "é" * 43):
            assert not auth.check_csrf(one.session_token, presented)
        elsewhere = build_console_auth(database, b"another secret of 32 bytes......")
        assert not elsewhere.check_csrf(one.session_token, one.csrf_token)

    _run(url, scenario)
