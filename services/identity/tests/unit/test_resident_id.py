from __future__ import annotations

import pytest

from identity.domain.resident_id import ResidentIdProtector, check_character, mask, normalise
from xinyu_core.errors import InvalidArgument

# A well-formed, invented number: region 360702, born 2015-01-01, sequence 123.
VALID = "36070220150101123" + check_character("36070220150101123")


def test_check_character_follows_gb11643() -> None:
    # The standard's worked example: 11010519491231002X.
    assert check_character("11010519491231002") == "X"
    assert normalise("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1234",
        "3607022015010112",
        "36070220150101123Y",
        VALID[:17] + ("0" if VALID[17] != "0" else "1"),
    ],
)
def test_malformed_or_wrong_check_digit_is_refused(raw: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        normalise(raw, field="guardian_resident_id")
    assert refused.value.field == "guardian_resident_id"


def test_protected_form_keeps_no_clear_number() -> None:
    protector = ResidentIdProtector(b"k" * 32)
    protected = protector.protect(VALID)
    assert VALID not in protected.keyed_hash
    assert protected.masked == mask(VALID) == VALID[:6] + "********" + VALID[-4:]
    assert protected.keyed_hash == protector.protect(VALID.lower()).keyed_hash
    other_key = ResidentIdProtector(b"j" * 32).protect(VALID)
    assert other_key.keyed_hash != protected.keyed_hash


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        ResidentIdProtector(b"short")
