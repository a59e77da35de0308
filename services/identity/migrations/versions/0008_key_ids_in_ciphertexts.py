"""key ids in ciphertexts

Field encryption keys rotate (xinyu_core.crypto, docs/runbooks/key-rotation.md): every
ciphertext now starts with the id of the key that made it. Until now there was one key, and
rows written before this revision are ``nonce || ciphertext || tag`` under it; that key is key
1, so they become ``0x01 || …`` without decrypting anything (no key needed here).

Downgrade strips the byte again from values made under key 1; anything made under a later key
could not be read by the earlier code, so the downgrade refuses while such rows exist.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE students SET student_number_cipher = '\\x01'::bytea || student_number_cipher"
    )


def downgrade() -> None:
    connection = op.get_bind()
    later = connection.execute(
        sa.text("SELECT count(*) FROM students WHERE get_byte(student_number_cipher, 0) <> 1")
    ).scalar_one()
    if later:
        raise RuntimeError(
            f"{later} student numbers are encrypted under a key other than key 1; run"
            " `identity rotate-keys` back to key 1 before downgrading"
        )
    op.execute(
        "UPDATE students SET student_number_cipher = substring(student_number_cipher from 2)"
    )
