"""Every field problem speaks Polish too, with the same gaps; the sentences on the wire, pinned."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from kolejka.adapters.http.app import KolejkaApp
from kolejka.adapters.http.errors import PROBLEMS_PL
from kolejka.domain.errors import FieldProblem
from tests.support import ROOT, call

SOURCES = ROOT / "src" / "kolejka"
FIELD_ERRORS = {"InvalidField", "ConflictingField"}


def gaps(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


@pytest.mark.parametrize("problem", list(FieldProblem), ids=lambda problem: problem.name)
def test_every_problem_has_polish_with_the_same_gaps(problem: FieldProblem) -> None:
    assert problem in PROBLEMS_PL, f"{problem.name} has no Polish message"
    assert gaps(PROBLEMS_PL[problem]) == gaps(problem.value)


def test_polish_is_keyed_by_problems_alone() -> None:
    assert set(PROBLEMS_PL) == set(FieldProblem)
    assert len({problem.value for problem in FieldProblem}) == len(FieldProblem)


def raised_problems(path: Path) -> list[tuple[int, str | None]]:
    """(line, sentence) of every problem a field error is raised with in `path`: the sentence
    when it is written out (a literal or a module's string constant), None for a member or a
    problem passed on; `"?"` when it is anything else (an f-string, say)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        problem: ast.expr | None = None
        if name in FIELD_ERRORS and len(node.args) >= 2:
            problem = node.args[1]
        for keyword in node.keywords:
            if keyword.arg == "problem" and name in (*FIELD_ERRORS, "ApiError"):
                problem = keyword.value
        if problem is None:
            continue
        if isinstance(problem, ast.Attribute) and (
            (isinstance(problem.value, ast.Name) and problem.value.id == "FieldProblem")
            or problem.attr == "problem"
        ):
            found.append((node.lineno, None))
        elif isinstance(problem, ast.Constant) and isinstance(problem.value, str):
            found.append((node.lineno, problem.value))
        elif isinstance(problem, ast.Name) and problem.id in constants:
            found.append((node.lineno, constants[problem.id]))
        else:
            found.append((node.lineno, "?"))
    return found


def test_every_problem_raised_anywhere_is_a_problem_with_polish() -> None:
    # mypy holds field errors to FieldProblem; this walk also catches a sentence passed where
    # the type checker cannot see it, which would answer in English to a Polish client.
    seen = 0
    for path in sorted(SOURCES.rglob("*.py")):
        for line, sentence in raised_problems(path):
            seen += 1
            where = f"{path.relative_to(ROOT)}:{line}"
            assert sentence is None, f"{where} raises {sentence!r}, not a FieldProblem member"
    assert seen > 30  # the walk does find the checks


@pytest.mark.parametrize(
    ("query", "english", "polish"),
    [
        (
            "limit=0",
            "Invalid field limit: must be an integer from 1 to 1000.",
            "Nieprawidłowe pole limit: musi być liczbą całkowitą od 1 do 1000.",
        ),
        (
            "offset=-1",
            "Invalid field offset: must be an integer from 0 to 2147483647.",
            "Nieprawidłowe pole offset: musi być liczbą całkowitą od 0 do 2147483647.",
        ),
        (
            "order=shoe_size",
            "Invalid field order: must name sortable fields.",
            "Nieprawidłowe pole order: musi wymieniać pola, po których można sortować.",
        ),
    ],
)
async def test_a_list_parameter_out_of_range_reads_the_same_in_both_languages(
    app: KolejkaApp, personas: dict[str, str], query: str, english: str, polish: str
) -> None:
    path = f"/api/customers?{query}"
    en = await call(app, "GET", path, auth=personas["admin"])
    pl = await call(app, "GET", path, auth=personas["admin"], headers={"Accept-Language": "pl"})

    assert (en.status, pl.status) == (400, 400)
    assert en.json()["errors"] == [{"message": english, "code": 400003}]
    assert pl.json()["errors"] == [{"message": polish, "code": 400003}]


async def test_a_lone_surrogate_in_a_key_is_refused_in_polish(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    # The body's strings are checked in adapters/http/request.py, apart from the CRM's rules.
    body = b'{"surname": "Kowalski", "custom_fields": {"\\udc00": "x"}}'
    pl = await call(
        app,
        "POST",
        "/api/customers",
        auth=personas["admin"],
        body=body,
        headers={"Accept-Language": "pl"},
    )

    assert pl.json()["errors"] == [
        {
            "message": (
                "Nieprawidłowe pole custom_fields: ma klucz, który nie jest poprawnym tekstem"
                " Unicode."
            ),
            "code": 400003,
        }
    ]


async def test_a_conflict_names_its_problem_in_polish(
    app: KolejkaApp, personas: dict[str, str]
) -> None:
    made = await call(
        app, "POST", "/api/companies", auth=personas["admin"], json_body={"name": "ACME"}
    )
    card = made.json()["customer_id"]

    pl = await call(
        app,
        "PUT",
        f"/api/customers/{card}",
        auth=personas["admin"],
        json_body={"surname": "Kowalski"},
        headers={"Accept-Language": "pl"},
    )

    assert pl.json()["errors"] == [
        {
            "message": (
                "Pole surname jest sprzeczne z zapisanym rekordem: musi być puste na karcie firmy."
            ),
            "code": 409004,
        }
    ]
