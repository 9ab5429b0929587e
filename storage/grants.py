"""PostgreSQL privileges for the role the application connects as.

The application may read and add audit events but never change or remove
them, so that role gets SELECT and INSERT on ``audit_events`` and nothing
else there. The migrations run as the owner of the tables, a different role.
"""

from __future__ import annotations

import re

from storage.models import AuditChainHead, AuditEvent, Base

AUDIT_TABLE = AuditEvent.__tablename__
CHAIN_HEAD_TABLE = AuditChainHead.__tablename__

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def application_grants(role: str, schema: str = "public") -> list[str]:
    """Return the SQL statements that give ``role`` what the application needs in ``schema``.

    Raises ``ValueError`` for a role or schema name that is not a plain
    lower-case identifier, because the names are written into the SQL.
    """
    for kind, name in (("role", role), ("schema", schema)):
        if not _IDENTIFIER.match(name):
            raise ValueError(
                f"{kind} name {name!r} is not a plain identifier; use lower-case letters, digits and underscores"
            )

    other_tables = sorted(name for name in Base.metadata.tables if name not in (AUDIT_TABLE, CHAIN_HEAD_TABLE))
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT, UPDATE ON {', '.join(f'{schema}.{table}' for table in other_tables)} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        # Appending locks and moves the chain head row, so the role updates it.
        f"GRANT SELECT, UPDATE ON {schema}.{CHAIN_HEAD_TABLE} TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.{AUDIT_TABLE} FROM {role}",
        f"GRANT SELECT, INSERT ON {schema}.{AUDIT_TABLE} TO {role}",
    ]
    return statements
