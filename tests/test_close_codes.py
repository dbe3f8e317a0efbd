"""Close code names and descriptions (w3cws._close_codes)."""

from __future__ import annotations

import dataclasses

import pytest

from w3cws._close_codes import CloseCode, CloseCodeInfo, describe_close_code

_PRIMARY = {
    1000: "NORMAL_CLOSURE",
    1001: "GOING_AWAY",
    1002: "PROTOCOL_ERROR",
    1003: "UNSUPPORTED_DATA",
    1004: "RESERVED",
    1005: "NO_STATUS_RECEIVED",
    1006: "ABNORMAL_CLOSURE",
    1007: "INVALID_FRAME_PAYLOAD_DATA",
    1008: "POLICY_VIOLATION",
    1009: "MESSAGE_TOO_BIG",
    1010: "MANDATORY_EXTENSION",
    1011: "INTERNAL_ERROR",
    1012: "SERVICE_RESTART",
    1013: "TRY_AGAIN_LATER",
    1014: "BAD_GATEWAY",
    1015: "TLS_HANDSHAKE",
}

_LEGACY = {
    "CLOSE_NORMAL": 1000,
    "CLOSE_GOING_AWAY": 1001,
    "CLOSE_PROTOCOL_ERROR": 1002,
    "CLOSE_UNSUPPORTED": 1003,
    "CLOSE_NO_STATUS": 1005,
    "CLOSE_ABNORMAL": 1006,
    "CLOSE_TOO_LARGE": 1009,
}


def test_members_are_exactly_1000_to_1015() -> None:
    assert [member.value for member in CloseCode] == list(range(1000, 1016))


@pytest.mark.parametrize(("value", "name"), sorted(_PRIMARY.items()))
def test_primary_names(value: int, name: str) -> None:
    member = CloseCode(value)
    assert member.name == name
    assert CloseCode[name] == value
    assert member is CloseCode[name]


@pytest.mark.parametrize(("alias", "value"), sorted(_LEGACY.items()))
def test_legacy_aliases(alias: str, value: int) -> None:
    assert CloseCode[alias] is CloseCode(value)
    assert CloseCode[alias] == value
    assert CloseCode[alias].name == _PRIMARY[value]


def test_aliases_are_all_the_extra_names() -> None:
    extra = set(CloseCode.__members__) - set(_PRIMARY.values())
    assert extra == set(_LEGACY)


# (code, name, category, sendable, script_may_send, event_only)
_CASES = [
    (0, None, "unused", False, False, False),
    (999, None, "unused", False, False, False),
    (1000, "NORMAL_CLOSURE", "protocol", True, True, False),
    (1001, "GOING_AWAY", "protocol", True, False, False),
    (1002, "PROTOCOL_ERROR", "protocol", True, False, False),
    (1003, "UNSUPPORTED_DATA", "protocol", True, False, False),
    (1004, "RESERVED", "protocol", False, False, False),
    (1005, "NO_STATUS_RECEIVED", "protocol", False, False, True),
    (1006, "ABNORMAL_CLOSURE", "protocol", False, False, True),
    (1007, "INVALID_FRAME_PAYLOAD_DATA", "protocol", True, False, False),
    (1008, "POLICY_VIOLATION", "protocol", True, False, False),
    (1009, "MESSAGE_TOO_BIG", "protocol", True, False, False),
    (1010, "MANDATORY_EXTENSION", "protocol", True, False, False),
    (1011, "INTERNAL_ERROR", "protocol", True, False, False),
    (1012, "SERVICE_RESTART", "protocol", True, False, False),
    (1013, "TRY_AGAIN_LATER", "protocol", True, False, False),
    (1014, "BAD_GATEWAY", "protocol", True, False, False),
    (1015, "TLS_HANDSHAKE", "protocol", False, False, True),
    (1016, None, "protocol", False, False, False),
    (1999, None, "protocol", False, False, False),
    (2000, None, "extension", False, False, False),
    (2999, None, "extension", False, False, False),
    (3000, None, "library", True, True, False),
    (3999, None, "library", True, True, False),
    (4000, None, "application", True, True, False),
    (4999, None, "application", True, True, False),
    (5000, None, "invalid", False, False, False),
    (65535, None, "invalid", False, False, False),
]


@pytest.mark.parametrize("case", _CASES, ids=[str(case[0]) for case in _CASES])
def test_describe(case: tuple[int, str | None, str, bool, bool, bool]) -> None:
    code, name, category, sendable, script_may_send, event_only = case
    info = describe_close_code(code)
    assert info.code == code
    assert info.name == name
    assert info.category == category
    assert info.sendable is sendable
    assert info.script_may_send is script_may_send
    assert info.event_only is event_only
    assert info.description


@pytest.mark.parametrize(
    ("code", "description_part"),
    [
        (0, "0-999"),
        (999, "0-999"),
        (1016, "1000-1999"),
        (1999, "1000-1999"),
        (2000, "2000-2999"),
        (2999, "2000-2999"),
        (3000, "3000-3999"),
        (3999, "3000-3999"),
        (4000, "4000-4999"),
        (4999, "4000-4999"),
        (5000, "5000 and above"),
        (65535, "5000 and above"),
        (1000, "Normal closure"),
        (1009, "too big"),
        (1006, "never sent"),
    ],
)
def test_describe_description(code: int, description_part: str) -> None:
    assert description_part in describe_close_code(code).description


def test_every_member_has_its_own_description() -> None:
    descriptions = {describe_close_code(member).description for member in CloseCode}
    assert len(descriptions) == len(CloseCode)


def test_describe_accepts_a_member() -> None:
    info = describe_close_code(CloseCode.CLOSE_TOO_LARGE)
    assert info.code == 1009
    assert type(info.code) is int
    assert info.name == "MESSAGE_TOO_BIG"


def test_info_is_frozen() -> None:
    info = describe_close_code(1000)
    assert isinstance(info, CloseCodeInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.code = 1001  # type: ignore[misc]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (-1, ValueError),
        (65536, ValueError),
        (1 << 40, ValueError),
        ("x", TypeError),
        ("1000", TypeError),
        (1000.0, TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_describe_errors(code: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        describe_close_code(code)  # type: ignore[arg-type]
