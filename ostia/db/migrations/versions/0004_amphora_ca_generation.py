"""amphora.ca_generation: which CA generation signed the amphora's server certificate (CA rotation)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ca_generation", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.drop_column("ca_generation")
