"""One rule for control characters in one-line text, whoever sends it."""

from __future__ import annotations

import pytest

from kolejka.domain.text import has_control


@pytest.mark.parametrize("value", ["\x00", "a\tb", "a\nb", "\r", "\x1f", "\x7f", "x\x85", "\x9f"])
def test_c0_c1_and_del_are_control_characters(value: str) -> None:
    assert has_control(value)


@pytest.mark.parametrize("value", ["", "Obsługa klienta", "a\u00a0b", "\u2028"])
def test_letters_and_other_blanks_are_not(value: str) -> None:
    assert not has_control(value)
