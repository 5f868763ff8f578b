"""The unambiguous rule and customer labels."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kolejka.domain.customers import (
    CustomerKind,
    CustomerMatch,
    customer_label,
    person_label,
    unambiguous,
)


def test_it_names_the_only_owner_of_a_number() -> None:
    jan = CustomerMatch(123, "Jan Kowalski")
    assert unambiguous([jan]) == jan


def test_it_returns_null_when_nobody_owns_the_number() -> None:
    assert unambiguous([]) is None


def test_it_returns_null_when_two_customers_share_a_number() -> None:
    assert (
        unambiguous([CustomerMatch(1, "Piotr Zieliński"), CustomerMatch(2, "Zieliński SA")]) is None
    )


def test_one_customer_listed_twice_is_still_one_owner() -> None:
    assert unambiguous([CustomerMatch(7, "A"), CustomerMatch(7, "A")]) == CustomerMatch(7, "A")


def test_a_persons_label_is_name_then_surname() -> None:
    assert person_label("Jan", "Kowalski") == "Jan Kowalski"
    assert person_label("", "Kowalski") == "Kowalski"


def test_a_companys_label_is_its_name() -> None:
    assert customer_label(CustomerKind.COMPANY, "", "", "Kwiaciarnia Róża") == "Kwiaciarnia Róża"
    assert customer_label(CustomerKind.PERSON, "Jan", "Kowalski", "ignored") == "Jan Kowalski"


@given(st.lists(st.builds(CustomerMatch, st.integers(1, 5), st.text(max_size=5)), max_size=6))
def test_unambiguous_names_someone_only_when_exactly_one_id_owns_the_number(
    owners: list[CustomerMatch],
) -> None:
    result = unambiguous(owners)
    ids = {owner.customer_id for owner in owners}
    assert (result is not None) == (len(ids) == 1)
    if result is not None:
        assert result in owners
