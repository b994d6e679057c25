"""runner.ids: the generic id toolkit plugins declare their id types with (Guid, id_type,
number_id, check); the Defender forms live in the Defender plugin."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from runner import ids
from runner.errors import InvalidValue

TicketId = ids.id_type("a ticket id: ACME- and digits", "ACME-[0-9]{1,9}", "ACME-42")
HostId = ids.id_type("a host id: 8 hex characters", "[0-9a-fA-F]{8}", "00ff00ff", lower=True)
CaseNumber = ids.number_id("a case number", 1234)


class _In(BaseModel):
    ticket: TicketId | None = None
    host: HostId | None = None
    case: CaseNumber | None = None
    guid: ids.Guid | None = None


def test_declared_types_accept_their_form_and_normalise():
    got = _In.model_validate({"ticket": "ACME-7", "host": "00FF00FF", "case": "99",
                              "guid": "5382F7EA-7557-4AB7-9782-D50480024A4E"})
    assert (got.ticket, got.host, got.case, got.guid) == ("ACME-7", "00ff00ff", 99,
                                                          "5382f7ea-7557-4ab7-9782-d50480024a4e")


@pytest.mark.parametrize("field, value", [
    ("ticket", "ACME-7/../x"), ("ticket", "acme-7"), ("ticket", 7), ("host", "00ff00f"),
    ("case", True), ("case", -1), ("case", "1e3"), ("case", 2 ** 63), ("guid", "{5382f7ea-7557-4ab7-9782-d50480024a4e}"),
])
def test_other_forms_are_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError) as info:
        _In.model_validate({field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_check_outside_a_model_says_the_form_and_an_example():
    assert ids.check(HostId, "ABCDEF12") == "abcdef12"
    with pytest.raises(InvalidValue, match="must be a ticket id: ACME- and digits, e.g. ACME-42"):
        ids.check(TicketId, "ACME-x")
    with pytest.raises(InvalidValue, match="must be a case number: a number, e.g. 1234"):
        ids.check(CaseNumber, "x")


def test_the_schema_carries_the_pattern_and_a_wrong_example_fails_at_declaration():
    assert TypeAdapter(TicketId).json_schema() == {"type": "string", "pattern": "^ACME-[0-9]{1,9}$"}
    assert TypeAdapter(CaseNumber).json_schema() == {"type": "integer", "minimum": 0}
    with pytest.raises(ValueError, match="does not match"):
        ids.id_type("a code", "[0-9]+", "abc")


def test_the_core_declares_no_vendor_id():
    assert not {"MachineId", "AlertId", "IncidentId", "IndicatorId", "MachineActionId", "ComputerName"} & set(dir(ids))
