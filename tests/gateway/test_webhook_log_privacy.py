"""A malformed webhook is logged by field and kind, never with the values it carried."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from gateway.routes.messaging import invalid_fields
from switchboard.contract.addresses import InvalidAddress, to_e164


class _Form(BaseModel):
    NumMedia: int
    Body: str


def test_validation_errors_name_the_field_and_kind_but_not_the_input() -> None:
    try:
        _Form.model_validate({"NumMedia": "my card is 4111 1111 1111 1111", "Body": 7})
    except ValidationError as exc:
        problems = invalid_fields(exc)
    assert problems == ["NumMedia: int_parsing", "Body: string_type"]
    assert not any("4111" in problem for problem in problems)


def test_an_invalid_address_is_not_quoted() -> None:
    try:
        to_e164("call +1 415 555 0100 now, my pin is 1234")
    except InvalidAddress as exc:
        problems = invalid_fields(exc)
    assert problems == ["address: not a phone number"]
