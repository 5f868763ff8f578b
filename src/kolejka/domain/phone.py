"""Phone numbers: one normal form for matching, one display form for the wire.

Matching uses E.164 (`+48613459851`), so every spelling of a number finds the same customer.
Display follows Thulium's example: numbers of the home region in national digits (`613459851`),
others in international form with `+` (`+4915110000001`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

# Longer input is never a phone number; refusing it early keeps the parser's work bounded.
MAX_PHONE_INPUT = 64
_ALLOWED = frozenset("0123456789+-() ./\t")
# What Asterisk and other PBXs put in the caller id when there is none.
_NO_CALLER_ID = frozenset({"", "unknown", "<unknown>", "anonymous", "<anonymous>", "restricted"})


@dataclass(frozen=True, slots=True)
class PhoneNumbers:
    """Normalises and displays phone numbers for one home region (e.g. `PL`)."""

    default_region: str = "PL"

    def __post_init__(self) -> None:
        if phonenumbers.country_code_for_region(self.default_region) == 0:
            raise ValueError(f"unknown phone region: {self.default_region!r}")

    def normalise(self, raw: str) -> str | None:
        """E.164 form of `raw`, or None when it is not a possible phone number. Never raises."""
        return _normalise(raw, self.default_region)

    def spellings(self, e164: str) -> tuple[str, ...]:
        """The keys (`number_key`) a PBX or a client may have written this E.164 number as: with
        `+`, without it, with `00`, in national digits, and the bare national number."""
        number = _parse(e164, "ZZ")
        if number is None:
            return (e164,)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        forms = (
            e164,
            e164[1:],
            "00" + e164[1:],
            "".join(ch for ch in national if ch.isdigit()),
            str(phonenumbers.national_significant_number(number)),
        )
        return tuple(dict.fromkeys(form for form in forms if form))

    def display(self, raw: str) -> str:
        """The number as the waiting list shows it; `""` when the caller has no caller id."""
        text = raw.strip()
        if text.lower() in _NO_CALLER_ID:
            return ""
        e164 = self.normalise(text)
        if e164 is None:
            return text[:MAX_PHONE_INPUT]
        return _display(e164, self.default_region)

    def display_normal(self, e164: str) -> str:
        """`display` of a number already in normal form (a stored callback's, a customer's):
        the same text without parsing it again, which costs some 100 µs a number once more
        numbers go by than the parse cache holds (a dialler working through 10,000 callbacks)."""
        return _display(e164, self.default_region)


def is_caller_id_missing(raw: str) -> bool:
    return raw.strip().lower() in _NO_CALLER_ID


# A few thousand numbers cover every caller waiting now and those of the last minutes; each
# entry costs some 370 bytes, so a bigger cache grows RSS by megabytes for no speed. The
# waiting list's own byte cache spares reads from normalising at all.
_CACHED_NUMBERS = 4096


def number_key(raw: str) -> str:
    """`raw` without the blanks and punctuation people write numbers with: `+` and digits left
    (anything else stays, so it matches only itself). Cheap enough for every call the PBX
    reports; `PhoneNumbers.spellings` lists the keys one E.164 number may have."""
    if raw.isdigit():  # what Asterisk sends: nothing to take out (a third of the cost)
        return raw[:MAX_PHONE_INPUT]
    text = raw.strip()
    if text.lower() in _NO_CALLER_ID:
        return ""
    return text.translate(_PUNCTUATION)[:MAX_PHONE_INPUT]


_PUNCTUATION = str.maketrans("", "", "-() ./\t")


@lru_cache(maxsize=_CACHED_NUMBERS)
def _normalise(raw: str, region: str) -> str | None:
    text = raw.strip()
    if not text or len(text) > MAX_PHONE_INPUT or not set(text) <= _ALLOWED:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits or len(digits) > 17:  # E.164 allows 15; some room for a trunk prefix
        return None
    number = _parse(text, region)
    if number is not None and phonenumbers.is_possible_number(number):
        return _stable_e164(number)
    # PBXs often send international numbers without `+` or `00` (Asterisk: `4915110000001`).
    if not text.startswith("+") and len(digits) >= 8:
        number = _parse("+" + digits, region)
        if number is not None and phonenumbers.is_valid_number(number):
            return _stable_e164(number)
    return None


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _stable_e164(number: phonenumbers.PhoneNumber) -> str | None:
    """The E.164 form, or None when reading that form back gives another number.

    A national number of only zeros (`+49000000`) formats with one zero fewer each time it is
    read again; such input is no phone number, and a normal form must be a fixed point, or one
    customer's number would stop matching itself after a round trip.
    """
    e164 = _e164(number)
    again = _parse(e164, "ZZ")
    if again is None or _e164(again) != e164:
        return None
    return e164


@lru_cache(maxsize=_CACHED_NUMBERS)
def _display(e164: str, region: str) -> str:
    # E.164 is `+`, the country code, then the national significant number, and country codes
    # are a prefix code: a home number is what follows its `+<code>`, with no second parse
    # (each parse costs the AMI listener some 100 µs when webhooks show the number).
    home = f"+{phonenumbers.country_code_for_region(region)}"
    if e164.startswith(home):
        return e164[len(home) :]
    return e164
