"""The audit trail is append-only: the database refuses to change or delete a field_changes row.

Revision ID: 0003_field_changes_append_only
Revises: 0002_api_tokens
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0003_field_changes_append_only"
down_revision = "0002_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION pmflow_field_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the audit trail is append-only: % on field_changes is refused', TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER field_changes_append_only BEFORE UPDATE OR DELETE ON field_changes "
            "FOR EACH ROW EXECUTE FUNCTION pmflow_field_changes_append_only()"
        )
        op.execute(
            "CREATE TRIGGER field_changes_no_truncate BEFORE TRUNCATE ON field_changes "
            "FOR EACH STATEMENT EXECUTE FUNCTION pmflow_field_changes_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER field_changes_append_only_{verb.lower()} BEFORE {verb} ON field_changes "
                f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: field_changes cannot be "
                f"{verb.lower().rstrip('e')}ed'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS field_changes_no_truncate ON field_changes")
        op.execute("DROP TRIGGER IF EXISTS field_changes_append_only ON field_changes")
        op.execute("DROP FUNCTION IF EXISTS pmflow_field_changes_append_only()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS field_changes_append_only_{verb}")
