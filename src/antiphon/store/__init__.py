"""Persistence: SQLAlchemy 2 (asyncio) over SQLite by default or PostgreSQL, Alembic migrations.

Each module holds one repository; they take a `Database` and open a short session per call,
so no session outlives the call that needed it. Everything here runs on the event loop
(aiosqlite and asyncpg do their I/O off it).
"""
