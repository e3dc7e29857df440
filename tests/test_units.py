"""Units: registered once by name, with kinds from art. 2, even when created concurrently."""

import threading

import pytest

from app.core.errors import Conflict, InvalidInput
from app.registry import units
from tests.factories import OPERATOR, snapshot


def test_units_get_short_ids_and_chinese_kind_names(r):
    """Units are numbered U1, U2 and accept a kind by its id or its Chinese name."""
    first = units.create(r, OPERATOR, "计算机学院", "secondary_college")
    second = units.create(r, OPERATOR, "校团委", "团组织")
    assert (first.id, second.id, second.kind) == ("U1", "U2", "youth_league")
    assert [u.name for u in units.all_units(r)] == ["计算机学院", "校团委"]


def test_a_duplicate_name_is_refused_and_uses_no_id(r):
    """A second unit with the same name is refused, writes nothing and does not use up an id."""
    units.create(r, OPERATOR, "计算机学院", "secondary_college")
    before = snapshot(r)
    with pytest.raises(Conflict, match="已有名为"):
        units.create(r, OPERATOR, "计算机学院", "department")
    assert snapshot(r) == before
    assert units.create(r, OPERATOR, "机电学院", "secondary_college").id == "U2"


def test_concurrent_creates_of_one_name_make_one_unit(r):
    """Twenty operators registering the same unit at once end with exactly one."""
    barrier = threading.Barrier(20)
    outcomes = []

    def register():
        barrier.wait()
        try:
            outcomes.append(units.create(r, OPERATOR, "计算机学院", "secondary_college").id)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=register) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["U1"] + ["conflict"] * 19
    assert [u.id for u in units.all_units(r)] == ["U1"]


@pytest.mark.parametrize(("name", "kind"), [("", "other"), ("名" * 65, "other"), ("x", "bank")])
def test_bad_unit_input_is_refused(r, name, kind):
    """Empty or long names and unknown kinds are refused with a specific message."""
    with pytest.raises(InvalidInput):
        units.create(r, OPERATOR, name, kind)
