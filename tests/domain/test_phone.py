"""Phone normalisation: every spelling of a number matches; nothing ever raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kolejka.domain.phone import MAX_PHONE_INPUT, PhoneNumbers, number_key

phones = PhoneNumbers("PL")

SAME_NUMBER = ["613459851", "+48 613 459 851", "0048613459851", "+48-613-459-851", "613 45 98 51"]


@pytest.mark.parametrize("spelling", SAME_NUMBER)
def test_every_spelling_of_a_polish_number_normalises_to_one_form(spelling: str) -> None:
    assert phones.normalise(spelling) == "+48613459851"


def test_a_german_number_stays_german() -> None:
    assert phones.normalise("+4915110000001") == "+4915110000001"
    assert phones.display("+4915110000001") == "+4915110000001"


def test_an_international_number_without_plus_from_a_pbx_is_recognised() -> None:
    # Asterisk's CallerIDNum in the captures: 4915110000001
    assert phones.normalise("4915110000001") == "+4915110000001"


@pytest.mark.parametrize(
    "garbage", ["", "   ", "abc", "61345985a", "1-800-FLOWERS", "1" * 40, "+" * 10, "٦١٣٤٥٩٨٥١"]
)
def test_letters_empty_and_absurd_input_never_match(garbage: str) -> None:
    assert phones.normalise(garbage) is None


def test_domestic_numbers_display_as_national_digits() -> None:
    assert phones.display("+48 613 459 851") == "613459851"
    assert phones.display("0048613459851") == "613459851"


@pytest.mark.parametrize("missing", ["", "unknown", "<unknown>", "anonymous", "Anonymous"])
def test_a_caller_without_caller_id_displays_as_empty(missing: str) -> None:
    assert phones.display(missing) == ""


def test_an_internal_extension_displays_as_received() -> None:
    assert phones.normalise("101") is None
    assert phones.display("101") == "101"


def test_an_unknown_region_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="unknown phone region"):
        PhoneNumbers("XX")


@given(st.text(max_size=200))
def test_normalise_never_raises_and_is_idempotent(text: str) -> None:
    first = phones.normalise(text)
    if first is not None:
        assert first.startswith("+")
        assert phones.normalise(first) == first
    phones.display(text)


@given(st.from_regex(r"\+?[0-9 ()\-]{0,30}", fullmatch=True))
def test_normalise_is_idempotent_on_number_like_input(text: str) -> None:
    first = phones.normalise(text)
    if first is not None:
        assert phones.normalise(first) == first
        assert phones.normalise(phones.display(text)) == first


@pytest.mark.parametrize("text", ["+49000000", "+4900000", "+48 000 000 000"])
def test_a_number_whose_e164_form_does_not_read_back_as_itself_is_no_number(text: str) -> None:
    # phonenumbers drops a leading zero of an all-zero national number each time it formats
    # one: no fixed point, so no normal form (hypothesis found "+49000000").
    first = phones.normalise(text)
    assert first is None or phones.normalise(first) == first


def test_a_number_key_drops_what_people_write_between_digits_and_nothing_else() -> None:
    from kolejka.domain.phone import number_key

    assert number_key(" +48 (601) 100-200 ") == "+48601100200"
    assert number_key("0048.601.100.200") == "0048601100200"
    assert number_key("<unknown>") == ""
    assert number_key("PJSIP/1001") == "PJSIP1001"


def test_the_spellings_of_a_number_cover_how_pbxs_and_people_write_it() -> None:
    from kolejka.domain.phone import PhoneNumbers, number_key

    phones = PhoneNumbers("PL")
    for written in ("601100200", "+48601100200", "48601100200", "0048601100200", "+48 601 100 200"):
        assert number_key(written) in phones.spellings("+48601100200"), written
    german = phones.spellings("+4915110000001")
    for written in ("+4915110000001", "4915110000001", "004915110000001", "015110000001"):
        assert number_key(written) in german, written


@given(
    st.sampled_from(["PL", "DE", "IT", "US", "GB", "CZ"]),
    st.from_regex(r"\+?[0-9]{6,15}", fullmatch=True),
)
def test_display_cuts_the_home_country_code_as_phonenumbers_formats_it(
    region: str, raw: str
) -> None:
    import phonenumbers

    e164 = PhoneNumbers(region).normalise(raw)
    if e164 is None:
        return
    number = phonenumbers.parse(e164, None)
    expected = e164
    if number.country_code == phonenumbers.country_code_for_region(region):
        expected = str(phonenumbers.national_significant_number(number))
    assert PhoneNumbers(region).display(raw) == expected


def _key_the_long_way(raw: str) -> str:
    text = raw.strip()
    if text.lower() in {"", "unknown", "<unknown>", "anonymous", "<anonymous>", "restricted"}:
        return ""
    return "".join(ch for ch in text if ch not in "-() ./\t")[:MAX_PHONE_INPUT]


@given(st.text(alphabet=st.sampled_from("0123456789+-() ./\t٤²x"), max_size=80) | st.text())
def test_a_number_key_is_the_number_without_punctuation_whatever_path_it_takes(raw: str) -> None:
    assert number_key(raw) == _key_the_long_way(raw)


@pytest.mark.parametrize(
    ("raw", "key"),
    [("48600100200", "48600100200"), ("+48 600-100-200", "+48600100200"), ("anonymous", "")],
)
def test_a_number_key_keeps_plus_and_digits(raw: str, key: str) -> None:
    assert number_key(raw) == key
    assert number_key("9" * 200) == "9" * MAX_PHONE_INPUT


@given(
    st.sampled_from(["PL", "DE", "US"]),
    st.from_regex(r"\+?[0-9 ()\-]{0,30}", fullmatch=True),
)
def test_a_normal_number_displays_the_same_without_being_parsed_again(
    region: str, raw: str
) -> None:
    numbers = PhoneNumbers(region)
    e164 = numbers.normalise(raw)
    if e164 is not None:
        assert numbers.display_normal(e164) == numbers.display(raw) == numbers.display(e164)
