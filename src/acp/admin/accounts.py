"""Account repairs that need the database, not the API: a lost (admin) password."""

from __future__ import annotations

from acp.server.settings import Settings


async def set_password(settings: Settings, username: str, password: str) -> str:
    """Set `username`'s password; returns an error message, "" on success."""
    from acp.admin.database import kind_of, sqlite_path
    from acp.auth import accounts
    from acp.db.audit import AuditLog
    from acp.db.engine import Database
    from acp.db.generations import Generations

    url = settings.effective_database_url
    if kind_of(url) == "sqlite" and not sqlite_path(url).is_file():
        return f"there is no SQLite database at {sqlite_path(url)}; check --data-dir"
    # The server's shared generations file, so that its workers drop cached credentials.
    generations = Generations(settings.run_dir / "generations")
    db = Database(url, generations)
    try:
        async with db.write() as conn:
            await accounts.update_user(conn, username, password=password)
            await AuditLog(db).record(
                actor="acp-admin",
                action="user.password",
                resource="users",
                name=username,
                details={"via": "acp-admin"},
                conn=conn,
            )
    except accounts.AccountError as exc:
        return str(exc)
    finally:
        await db.dispose()
        generations.close()
    return ""
