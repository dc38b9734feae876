"""The array literals that carry a batch's columns to PostgreSQL: the whole-column fast
paths write exactly what writing element by element writes."""

from hypothesis import given
from hypothesis import strategies as st

from settlement.models import TransferState
from settlement.sql import _array_element, array_literal


def element_by_element(values) -> str:
    return "{" + ",".join(map(_array_element, values)) + "}"


# PostgreSQL text holds no NUL; the rest of Unicode, quotes, backslashes, commas and braces
# all may be in a memo or a key.
texts = st.text(alphabet=st.characters(blacklist_characters="\0"))


@given(st.lists(texts))
def test_a_column_of_strings_is_written_as_element_by_element(values):
    assert array_literal(values) == element_by_element(values)


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1)))
def test_a_column_of_integers_is_written_as_element_by_element(values):
    assert array_literal(values) == element_by_element(values)


@given(st.lists(st.one_of(st.none(), st.booleans(), st.integers(), texts)))
def test_a_mixed_column_is_written_as_element_by_element(values):
    assert array_literal(values) == element_by_element(values)


def test_worked_examples():
    assert array_literal([]) == "{}"
    assert array_literal([1, -2, 30]) == "{1,-2,30}"
    assert array_literal(["a", 'say "hi"', "c:\\d", "x,y}"]) == (
        '{"a","say \\"hi\\"","c:\\\\d","x,y}"}'
    )
    assert array_literal([TransferState.SETTLED, "REJECTED"]) == '{"SETTLED","REJECTED"}'
    assert array_literal([True, 1]) == "{true,1}"  # a bool is no integer here
    assert array_literal(["a", None]) == '{"a",NULL}'
    assert array_literal(("a\0b", "c")) == element_by_element(("a\0b", "c"))
