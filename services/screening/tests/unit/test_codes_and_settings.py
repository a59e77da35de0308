"""Grade bands, codes, and the settings' refusal of placeholder keys in production."""

from __future__ import annotations

from datetime import date

import pytest

from screening.config import ScreeningSettings
from screening.domain.codes import ALPHABET, is_code, new_code, normalise_code
from screening.domain.grades import age_on, grade_band
from screening.domain.instruments.model import GradeBand
from screening.domain.model import SchoolType
from xinyu_core.errors import FailedPrecondition

AUTUMN = date(2026, 10, 12)


@pytest.mark.parametrize(
    ("school", "cohort", "band"),
    [
        (SchoolType.PRIMARY, 2026, GradeBand.PRIMARY_LOWER),
        (SchoolType.PRIMARY, 2023, GradeBand.PRIMARY_UPPER),
        (SchoolType.JUNIOR, 2024, GradeBand.JUNIOR_SECONDARY),
        (SchoolType.SENIOR, 2026, GradeBand.SENIOR_SECONDARY),
        (SchoolType.VOCATIONAL, 2025, GradeBand.SENIOR_SECONDARY),
        (SchoolType.NINE_YEAR, 2019, GradeBand.JUNIOR_SECONDARY),
        (SchoolType.TWELVE_YEAR, 2016, GradeBand.SENIOR_SECONDARY),
    ],
)
def test_grade_bands(school: SchoolType, cohort: int, band: GradeBand) -> None:
    assert grade_band(school, cohort, AUTUMN) == band


def test_a_class_that_has_left_has_no_band() -> None:
    with pytest.raises(FailedPrecondition):
        grade_band(SchoolType.JUNIOR, 2020, AUTUMN)
    # Before September the school year is still the previous one.
    assert grade_band(SchoolType.JUNIOR, 2023, date(2026, 6, 1)) == GradeBand.JUNIOR_SECONDARY


def test_ages() -> None:
    assert age_on(date(2012, 10, 13), AUTUMN) == 13
    assert age_on(date(2012, 10, 12), AUTUMN) == 14


def test_codes_avoid_look_alikes() -> None:
    assert not set("01ILO") & set(ALPHABET)
    codes = {new_code() for _ in range(200)}
    assert all(is_code(c) for c in codes)
    assert normalise_code(" ab c2 34 ") == "ABC234"


def test_production_refuses_placeholder_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYU_ENVIRONMENT", "production")
    monkeypatch.setenv("SCREENING_FIELD_ENCRYPTION_KEY", "deadbeefdeadbeef" + "00" * 24)
    monkeypatch.setenv("SCREENING_SITTING_TOKEN_KEY", "dev-sitting-token-key-0123456789abcdef")
    with pytest.raises(ValueError, match="field_encryption_key, sitting_token_key"):
        ScreeningSettings()
    monkeypatch.setenv("SCREENING_FIELD_ENCRYPTION_KEY", "5a" * 32)
    monkeypatch.setenv("SCREENING_SITTING_TOKEN_KEY", "k7Q" * 16)
    settings = ScreeningSettings()
    assert settings.grpc_listen == "127.0.0.1:50062"
