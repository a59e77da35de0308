"""``identity rotate-keys``: re-encrypts every stored student number under the current field
encryption key (docs/runbooks/key-rotation.md).

It runs beside the serving pods: rows are taken in batches with ``FOR UPDATE SKIP LOCKED``
and re-encrypted in their own short transactions, so a student enrolled meanwhile is written
under the current key anyway and nothing waits long. Stopping and starting again continues
where it was: the key id is the ciphertext's first byte, so "still to do" is a query.
Progress is logged as counts, never values.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from identity.adapters.db.tables import students
from identity.domain.student_number import ASSOCIATED_DATA
from xinyu_core.crypto import FieldCipher

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationReport:
    reencrypted: int
    remaining: int
    seconds: float


def _not_current(cipher: FieldCipher) -> ColumnElement[bool]:
    return func.get_byte(students.c.student_number_cipher, 0) != cipher.key_id


async def remaining(engine: AsyncEngine, cipher: FieldCipher) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(students).where(_not_current(cipher))
        return int((await connection.execute(query)).scalar_one())


async def rotate_student_numbers(
    engine: AsyncEngine, cipher: FieldCipher, *, batch: int = 5_000
) -> RotationReport:
    started = time.perf_counter()
    total = await remaining(engine, cipher)
    logger.info("key rotation started", extra={"key_id": cipher.key_id, "rows_to_reencrypt": total})
    done = 0
    while True:
        async with engine.begin() as connection:
            rows = (
                await connection.execute(
                    select(students.c.student_id, students.c.student_number_cipher)
                    .where(_not_current(cipher))
                    .order_by(students.c.student_id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                break
            await connection.execute(
                update(students)
                .where(students.c.student_id == bindparam("row_id"))
                .values(student_number_cipher=bindparam("new_cipher")),
                [
                    {"row_id": row_id, "new_cipher": cipher.reencrypt(old, ASSOCIATED_DATA)}
                    for row_id, old in rows
                ],
            )
        done += len(rows)
        logger.info(
            "key rotation progress",
            extra={"rows_reencrypted": done, "rows_to_reencrypt": total},
        )
    left = await remaining(engine, cipher)
    report = RotationReport(done, left, time.perf_counter() - started)
    logger.info(
        "key rotation finished",
        extra={
            "rows_reencrypted": done,
            "rows_remaining": left,
            "seconds": round(report.seconds, 1),
        },
    )
    return report
