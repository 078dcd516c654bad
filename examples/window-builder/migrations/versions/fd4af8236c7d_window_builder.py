"""window builder

Adds the six window-builder tables: frame and glazing type lookups, frame and glazing
element instances, apertures (per project, with grid dimensions) and the elements that fill
each aperture's grid. Purely additive: no existing table is modified.

Revision ID: fd4af8236c7d
Revises: 1a2b3c4d5e6f
Create Date: 2024-10-14 16:42:51.204118

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision: str = "fd4af8236c7d"
down_revision: Union[str, Sequence[str], None] = "1a2b3c4d5e6f"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "aperture_frame_types",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("manufacturer", sa.String(length=200), nullable=True),
        sa.Column("width_mm", sa.Float(), nullable=False),
        sa.Column("u_value_w_m2k", sa.Float(), nullable=False),
        sa.Column("psi_glazing_w_mk", sa.Float(), nullable=False, server_default=sa.text("0.04")),
        sa.Column("psi_install_w_mk", sa.Float(), nullable=False, server_default=sa.text("0.04")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.UniqueConstraint("name", name="uq_aperture_frame_types_name"),
    )
    op.create_table(
        "aperture_glazing_types",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("manufacturer", sa.String(length=200), nullable=True),
        sa.Column("u_value_w_m2k", sa.Float(), nullable=False),
        sa.Column("g_value", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.UniqueConstraint("name", name="uq_aperture_glazing_types_name"),
    )
    op.create_table(
        "aperture_element_frame",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "frame_type_id",
            sa.Integer(),
            sa.ForeignKey("aperture_frame_types.id", name="fk_aperture_element_frame_frame_type_id"),
            nullable=False,
        ),
    )
    op.create_index("ix_aperture_element_frame_frame_type_id", "aperture_element_frame", ["frame_type_id"])
    op.create_table(
        "aperture_element_glazing",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "glazing_type_id",
            sa.Integer(),
            sa.ForeignKey("aperture_glazing_types.id", name="fk_aperture_element_glazing_glazing_type_id"),
            nullable=False,
        ),
    )
    op.create_index("ix_aperture_element_glazing_glazing_type_id", "aperture_element_glazing", ["glazing_type_id"])
    op.create_table(
        "apertures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", name="fk_apertures_project_id_projects", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("grid_rows", sa.Integer(), nullable=True),
        sa.Column("grid_columns", sa.Integer(), nullable=True),
        sa.Column("row_heights_mm", postgresql.ARRAY(sa.Float()), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("column_widths_mm", postgresql.ARRAY(sa.Float()), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_apertures_project_id", "apertures", ["project_id"])
    op.create_table(
        "aperture_elements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "aperture_id",
            sa.Integer(),
            sa.ForeignKey("apertures.id", name="fk_aperture_elements_aperture_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("column_number", sa.Integer(), nullable=False),
        sa.Column("row_span", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("col_span", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column(
            "frame_id",
            sa.Integer(),
            sa.ForeignKey("aperture_element_frame.id", name="fk_aperture_elements_frame_id"),
            nullable=True,
        ),
        sa.Column(
            "glazing_id",
            sa.Integer(),
            sa.ForeignKey("aperture_element_glazing.id", name="fk_aperture_elements_glazing_id"),
            nullable=True,
        ),
        sa.UniqueConstraint("aperture_id", "row_number", "column_number", name="uq_aperture_elements_cell"),
    )
    op.create_index("ix_aperture_elements_aperture_id", "aperture_elements", ["aperture_id"])
    op.create_index("ix_aperture_elements_frame_id", "aperture_elements", ["frame_id"])
    op.create_index("ix_aperture_elements_glazing_id", "aperture_elements", ["glazing_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_aperture_elements_glazing_id", table_name="aperture_elements")
    op.drop_index("ix_aperture_elements_frame_id", table_name="aperture_elements")
    op.drop_index("ix_aperture_elements_aperture_id", table_name="aperture_elements")
    op.drop_table("aperture_elements")
    op.drop_index("ix_apertures_project_id", table_name="apertures")
    op.drop_table("apertures")
    op.drop_index("ix_aperture_element_glazing_glazing_type_id", table_name="aperture_element_glazing")
    op.drop_table("aperture_element_glazing")
    op.drop_index("ix_aperture_element_frame_frame_type_id", table_name="aperture_element_frame")
    op.drop_table("aperture_element_frame")
    op.drop_table("aperture_glazing_types")
    op.drop_table("aperture_frame_types")
