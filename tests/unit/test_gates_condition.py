"""`successCondition`: what parses, what it means, and the column named for what does not."""

from __future__ import annotations

import math

import pytest

from azora.errors import BadInput, ExitCode
from azora.gates.condition import BoolOp, Compare, Not, parse_condition
from azora.gates.errors import GateConfigError

INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(
    ("text", "true_for", "false_for"),
    [
        ("result < 0.01", [0.0, 0.0099, -INF], [0.01, 0.5, INF]),
        ("result <= 0.25", [0.25, 0.1], [0.2500001, INF]),
        ("result >= 0.99 and result < 2", [0.99, 1.5], [0.98, 2.0, INF]),
        ("result == 0", [0.0, -0.0], [1e-12, 1.0]),
        ("result != 0", [1.0, INF], [0.0]),
        ("result > 1e-3", [0.0011, INF], [0.001, 0.0]),
        ("result < 1E+2", [99.0], [100.0]),
        ("result < .5", [0.4], [0.5]),
        ("result > -1.5", [-1.0], [-2.0]),
        ("0.5 > result", [0.4], [0.5]),
        ("not result > 1", [1.0, 0.0], [1.1]),
        ("result < 0 or result > 10", [-1.0, 11.0], [5.0]),
        ("not (result > 1 and result < 3) or result == 2", [0.0, 2.0, 5.0], [1.5, 2.5]),
        ("  result<1  ", [0.0], [1.0]),
    ],
)
def test_conditions_evaluate(text: str, true_for: list[float], false_for: list[float]) -> None:
    condition = parse_condition(text)
    assert [condition(value) for value in true_for] == [True] * len(true_for)
    assert [condition(value) for value in false_for] == [False] * len(false_for)
    assert str(condition) == text


def test_the_tree_is_parsed_once_with_the_usual_precedence() -> None:
    condition = parse_condition("result < 1 or result > 2 and not result == 5")
    assert condition.tree == BoolOp(
        "or",
        Compare("<", None, 1.0),
        BoolOp("and", Compare(">", None, 2.0), Not(Compare("==", None, 5.0))),
    )
    assert parse_condition("result >= 0.99 and result < 2").tree == BoolOp(
        "and", Compare(">=", None, 0.99), Compare("<", None, 2.0)
    )


def test_nan_never_satisfies_an_ordinary_condition() -> None:
    # The analysis never asks (NaN is a Failed measurement); the IEEE answer is False anyway.
    assert parse_condition("result < 0.01")(NAN) is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("result < ", 'successCondition "result < ": expected a number at column 10'),
        ("result < result", "expected a number at column 10, found `result`"),
        ("result", "expected a comparison operator (<, <=, >, >=, ==, !=) at column 7"),
        ("result = 1", "unexpected character '=' at column 8; did you mean `==`?"),
        ("result <> 1", "expected a number at column 9, found `>`"),
        ("value < 1", "unknown name 'value' at column 1"),
        ("result < 1 && result > 0", "unexpected character '&' at column 12"),
        ("result < 1e-3x", "unknown name 'x' at column 14"),
        ("1 < 2", "expected `result` (a comparison of two numbers is constant) at column 5, found `2`"),
        ("0 < result < 1", "comparisons cannot be chained (write `a < result and result < b`) at column 12"),
        ("(result < 1", "expected `)` closing the `(` of column 1 at column 12"),
        ("result < 1)", "expected `and`, `or` or the end of the condition at column 11, found `)`"),
        ("result < 1 and", "expected `result`, a number, `not` or `(` at column 15"),
        ("result < -", "expected a number after `-` at column 11"),
        ("result < 1 result", "at column 12, found `result`"),
        ("__import__('os')", "unknown name '__import__' at column 1"),
        ("", "successCondition is empty"),
        ("   ", "successCondition is empty"),
        ("result < " + "1" * 300, "at most 200 are allowed"),
    ],
)
def test_bad_conditions_name_the_column(text: str, message: str) -> None:
    with pytest.raises(GateConfigError) as caught:
        parse_condition(text)
    assert message in str(caught.value)


def test_the_error_names_the_key_path_and_is_bad_input() -> None:
    with pytest.raises(GateConfigError) as caught:
        parse_condition("result <", "services.web.analysis.postPromotion[0].successCondition")
    assert str(caught.value) == (
        'services.web.analysis.postPromotion[0].successCondition "result <": expected a number at column 9'
    )
    assert isinstance(caught.value, BadInput)
    assert caught.value.exit_code is ExitCode.BAD_INPUT


def test_deep_parentheses_within_the_length_limit_parse() -> None:
    text = "(" * 60 + "result < 1" + ")" * 60
    assert parse_condition(text)(0.5) is True
