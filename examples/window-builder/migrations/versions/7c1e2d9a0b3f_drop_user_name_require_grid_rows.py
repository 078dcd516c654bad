"""drop users.name, require apertures.grid_rows

Destructive on purpose: dropping users.name deletes every stored name, and making
apertures.grid_rows NOT NULL fails on existing NULLs (and breaks old app code that inserts
apertures without it). migration-gate blocks this revision unless it is explicitly allowed.

Revision ID: 7c1e2d9a0b3f
Revises: fd4af8236c7d
Create Date: 2024-11-05 09:03:12.880417

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "7c1e2d9a0b3f"
down_revision: Union[str, Sequence[str], None] = "fd4af8236c7d"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.drop_column("users", "name")
    op.alter_column("apertures", "grid_rows", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.alter_column("apertures", "grid_rows", existing_type=sa.Integer(), nullable=True)
    # The column comes back empty: the names it held are only in a dump taken before the upgrade.
    op.add_column("users", sa.Column("name", sa.String(length=200), nullable=True))
