"""tls secrets of the local certificate manager

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tls_secret",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tls_secret")),
    )
    with op.batch_alter_table("tls_secret", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tls_secret_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tls_secret_name"), ["name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tls_secret", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tls_secret_name"))
        batch_op.drop_index(batch_op.f("ix_tls_secret_project_id"))
    op.drop_table("tls_secret")
