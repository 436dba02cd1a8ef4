"""amphora.cert_claim: token of the housekeeper holding cert_busy, so a release clears only its own claim

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cert_claim", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.drop_column("cert_claim")
