"""protect student numbers

A G-form student number is "G" and the child's resident ID, so ``students.student_number`` in
clear gave away what ``resident_id_hash`` protects. It becomes a keyed hash (unique, what every
match uses), AES-256-GCM ciphertext bound to the column, and a masked form.

Existing rows are converted here, in Python, with the service's own keys read from the
environment (``IDENTITY_RESIDENT_ID_HASH_KEY``, ``IDENTITY_FIELD_ENCRYPTION_KEY``): the same
HMAC-SHA256 and AES-GCM as ``identity.domain.student_number``, written out so this revision
stays as it is when that code changes. Without the keys a table with rows cannot be converted,
and the migration says so instead of guessing.

Downgrade is refused: putting the clear numbers back needs the encryption key and would undo
the point of this revision; restore from a backup taken before it instead.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 11:52:26.367174
"""

import hashlib
import hmac
import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ASSOCIATED_DATA = b"students.student_number"
_BATCH = 5_000


def _keys() -> tuple[bytes, AESGCM]:
    hash_key = os.environ.get("IDENTITY_RESIDENT_ID_HASH_KEY", "").encode()
    encryption_hex = os.environ.get("IDENTITY_FIELD_ENCRYPTION_KEY", "").strip()
    missing = [
        name
        for name, present in (
            ("IDENTITY_RESIDENT_ID_HASH_KEY", len(hash_key) >= 16),
            ("IDENTITY_FIELD_ENCRYPTION_KEY", bool(encryption_hex)),
        )
        if not present
    ]
    if missing:
        raise RuntimeError(
            "students has rows whose student numbers must be hashed and encrypted, but "
            + " and ".join(missing)
            + " is not set (or the hash key is shorter than 16 bytes); set the service's"
            " own keys and run the migration again"
        )
    try:
        encryption_key = bytes.fromhex(encryption_hex)
    except ValueError:
        encryption_key = b""
    if len(encryption_key) != 32:
        raise RuntimeError("IDENTITY_FIELD_ENCRYPTION_KEY must be 64 hexadecimal characters")
    return hash_key, AESGCM(encryption_key)


def _mask(number: str) -> str:
    if len(number) <= 11:
        return number[:1] + "*" * (len(number) - 1)
    return f"{number[:7]}{'*' * (len(number) - 11)}{number[-4:]}"


def upgrade() -> None:
    op.add_column("students", sa.Column("student_number_hash", sa.String(64), nullable=True))
    op.add_column("students", sa.Column("student_number_cipher", sa.LargeBinary(), nullable=True))
    op.add_column("students", sa.Column("student_number_masked", sa.String(32), nullable=True))

    connection = op.get_bind()
    count = connection.execute(sa.text("SELECT count(*) FROM students")).scalar_one()
    if count:
        hash_key, aead = _keys()
        update = sa.text(
            "UPDATE students SET student_number_hash = :hash,"
            " student_number_cipher = :cipher, student_number_masked = :masked"
            " WHERE student_id = :id"
        )
        rows = connection.execute(
            sa.text("SELECT student_id, student_number FROM students")
        ).fetchall()
        for start in range(0, len(rows), _BATCH):
            batch = []
            for student_id, number in rows[start : start + _BATCH]:
                nonce = os.urandom(12)
                batch.append(
                    {
                        "id": student_id,
                        "hash": hmac.new(
                            hash_key, number.encode("ascii"), hashlib.sha256
                        ).hexdigest(),
                        "cipher": nonce
                        + aead.encrypt(nonce, number.encode("ascii"), _ASSOCIATED_DATA),
                        "masked": _mask(number),
                    }
                )
            connection.execute(update, batch)

    op.alter_column("students", "student_number_hash", nullable=False)
    op.alter_column("students", "student_number_cipher", nullable=False)
    op.alter_column("students", "student_number_masked", nullable=False)
    op.create_unique_constraint(
        op.f("uq_students_student_number_hash"), "students", ["student_number_hash"]
    )
    op.drop_constraint(op.f("uq_students_student_number"), "students", type_="unique")
    op.drop_column("students", "student_number")


def downgrade() -> None:
    raise NotImplementedError(
        "0006 is irreversible without the field encryption key: the clear student numbers are"
        " gone from the database; restore a backup taken before it"
    )
