import pytest
from pydantic import ValidationError

from antiphon.errors import InvalidRequest
from antiphon.http.body import describe_validation_error
from antiphon.http.versions import NEWEST_VERSION, negotiate_version, parse_betas
from antiphon.protocol.messages import MessagesRequest

BASE = '"model":"m","messages":[{"role":"user","content":"hi"}]'


def problem(raw: str) -> str:
    with pytest.raises(ValidationError) as caught:
        MessagesRequest.model_validate_json(raw)
    return describe_validation_error(caught.value)


def test_missing_max_tokens_is_named() -> None:
    assert problem("{" + BASE + "}") == "max_tokens: Field required"


def test_wrong_types_are_strict_and_named() -> None:
    assert problem('{"max_tokens":"12",' + BASE + "}").startswith("max_tokens: Input should be a valid integer")


def test_empty_messages_and_bad_roles_are_named() -> None:
    assert problem('{"model":"m","max_tokens":5,"messages":[]}').startswith("messages: List should have at least 1 item")
    assert "messages.0.role" in problem('{"model":"m","max_tokens":5,"messages":[{"role":"bot","content":"x"}]}')


def test_unknown_block_type_is_named() -> None:
    message = problem('{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}')
    assert "messages.0.content" in message and "video" in message


def test_malformed_json_and_non_objects() -> None:
    assert problem("{not json").startswith("request body is not valid JSON")
    assert problem("[1, 2]") == "request body must be a JSON object"


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    parsed = MessagesRequest.model_validate_json(
        '{"max_tokens":5,"future_field":{"x":1},' + BASE[:-2] + ',"new_key":true}]}'
    )
    assert parsed.max_tokens == 5


def test_temperature_range_is_enforced() -> None:
    assert problem('{"max_tokens":5,"temperature":1.5,' + BASE + "}").startswith("temperature:")


def test_versions() -> None:
    assert negotiate_version("2023-06-01") == "2023-06-01"
    assert negotiate_version("2023-01-01") == "2023-01-01"
    assert negotiate_version("2099-01-01") == NEWEST_VERSION
    for bad in (None, "", "yesterday", "2023-13-01"):
        with pytest.raises(InvalidRequest):
            negotiate_version(bad)
    with pytest.raises(InvalidRequest, match="not a known version"):
        negotiate_version("2023-03-15")


def test_betas_are_a_comma_separated_list() -> None:
    assert parse_betas(" a-1 , b-2,,") == ("a-1", "b-2")
    assert parse_betas(None) == ()
