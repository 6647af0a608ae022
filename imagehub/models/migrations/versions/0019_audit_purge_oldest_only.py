"""The audit trail's purge may remove only its oldest events, and its head never goes
back to the empty chain: the purge's own switch (`imagehub.audit_purge`) needs no
privilege, so on its own it let anyone who could connect cut the newest events.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

OLDEST_ONLY = """
CREATE FUNCTION audit_events_purge_oldest_only() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_events WHERE id < (SELECT max(id) FROM purged)) THEN
        RAISE EXCEPTION 'audit_events: only the oldest events may be purged';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_purge_oldest_only
AFTER DELETE ON audit_events
REFERENCING OLD TABLE AS purged
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_purge_oldest_only();

CREATE FUNCTION audit_head_refuse_reset() RETURNS trigger AS $$
BEGIN
    IF OLD.last_hash <> repeat('0', 64) AND NEW.last_hash = repeat('0', 64) THEN
        RAISE EXCEPTION 'audit_head: the chain cannot be reset to empty';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_head_no_reset
BEFORE UPDATE ON audit_head
FOR EACH ROW EXECUTE FUNCTION audit_head_refuse_reset();
"""

DROP = """
DROP TRIGGER audit_head_no_reset ON audit_head;
DROP FUNCTION audit_head_refuse_reset();
DROP TRIGGER audit_events_purge_oldest_only ON audit_events;
DROP FUNCTION audit_events_purge_oldest_only();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite has no such triggers: verify finds tampering
        op.execute(OLDEST_ONLY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP)
