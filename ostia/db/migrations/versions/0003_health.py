"""amphora health, failover timeline, desired config hash

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "amphora_health",
        sa.Column("amphora_id", sa.String(length=36), nullable=False),
        sa.Column("last_update", TIMESTAMP, nullable=False),
        sa.Column("busy", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("applied_config_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("amphora_id", name=op.f("pk_amphora_health")),
    )
    with op.batch_alter_table("amphora_health", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_amphora_health_last_update"), ["last_update"], unique=False)
    op.create_table(
        "failover_event",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("load_balancer_id", sa.String(length=36), nullable=True),
        sa.Column("amphora_id", sa.String(length=36), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("detail", sa.String(length=1024), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failover_event")),
    )
    with op.batch_alter_table("failover_event", schema=None) as batch_op:
        batch_op.create_index("ix_failover_event_lb_at", ["load_balancer_id", "at"], unique=False)
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.add_column(sa.Column("config_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.drop_column("config_hash")
    with op.batch_alter_table("failover_event", schema=None) as batch_op:
        batch_op.drop_index("ix_failover_event_lb_at")
    op.drop_table("failover_event")
    with op.batch_alter_table("amphora_health", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_amphora_health_last_update"))
    op.drop_table("amphora_health")
