"""Answers and what they reveal, encrypted before they reach a repository.

AES-256-GCM (xinyu_core.crypto.FieldCipher). The associated data names the table, the column
and the row (a submission id, a draft's student and instrument, a task id), so a ciphertext
copied to another row or column no longer decrypts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from screening.domain.instruments import RiskLevel
from screening.domain.model import CriticalHit, ResultDetail, ScaleScore
from xinyu_core.crypto import FieldCipher


class Sealer:
    def __init__(self, cipher: FieldCipher) -> None:
        self._cipher = cipher

    def _seal(self, value: Any, where: str) -> bytes:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return self._cipher.encrypt_text(text, where.encode())

    def _open(self, cipher: bytes, where: str) -> Any:
        return json.loads(self._cipher.decrypt_text(cipher, where.encode()))

    # answers of a submitted result
    def seal_answers(self, submission_id: UUID, answers: Mapping[str, int]) -> bytes:
        return self._seal(dict(answers), f"results.answers:{submission_id}")

    def open_answers(self, submission_id: UUID, cipher: bytes) -> dict[str, int]:
        return {
            k: int(v) for k, v in self._open(cipher, f"results.answers:{submission_id}").items()
        }

    # answers saved as the student goes
    def seal_draft(
        self, campaign_id: UUID, student_id: UUID, instrument_id: str, answers: Mapping[str, int]
    ) -> bytes:
        where = f"drafts.answers:{campaign_id}:{student_id}:{instrument_id}"
        return self._seal(dict(answers), where)

    def open_draft(
        self, campaign_id: UUID, student_id: UUID, instrument_id: str, cipher: bytes
    ) -> dict[str, int]:
        where = f"drafts.answers:{campaign_id}:{student_id}:{instrument_id}"
        return {k: int(v) for k, v in self._open(cipher, where).items()}

    # scores, bands, critical items, validity
    def seal_detail(self, submission_id: UUID, detail: ResultDetail) -> bytes:
        value = {
            "total": detail.total,
            "band": detail.band,
            "scales": [[s.scale_id, s.value, s.band] for s in detail.scales],
            "critical": [
                [c.rule_id, list(c.item_ids), c.level.value if c.level else None]
                for c in detail.critical
            ],
            "invalid_reason": detail.invalid_reason,
        }
        return self._seal(value, f"results.detail:{submission_id}")

    def open_detail(self, submission_id: UUID, cipher: bytes) -> ResultDetail:
        value = self._open(cipher, f"results.detail:{submission_id}")
        return ResultDetail(
            total=value["total"],
            band=value["band"],
            scales=tuple(ScaleScore(s[0], s[1], s[2]) for s in value["scales"]),
            critical=tuple(
                CriticalHit(c[0], tuple(c[1]), RiskLevel(c[2]) if c[2] else None)
                for c in value["critical"]
            ),
            invalid_reason=value["invalid_reason"],
        )

    # free text written by staff about a student
    def seal_text(self, where: str, row: UUID, text: str) -> bytes:
        return self._cipher.encrypt_text(text, f"{where}:{row}".encode())

    def open_text(self, where: str, row: UUID, cipher: bytes | None) -> str:
        if cipher is None:
            return ""
        return self._cipher.decrypt_text(cipher, f"{where}:{row}".encode())
