"""Sizes as people write them, for --max-response-size and BLAND_MAX_RESPONSE_SIZE."""

from __future__ import annotations

import pytest

from reconciler.api.sizes import DEFAULT_MAX_RESPONSE_BYTES, parse_size, shown_size
from reconciler.errors import InputError


@pytest.mark.parametrize(
    "text, size",
    [
        ("1048576", 1024**2),
        ("512M", 512 * 1024**2),
        ("512m", 512 * 1024**2),
        (" 512 MiB ", 512 * 1024**2),
        ("2048K", 2 * 1024**2),
        ("2kb", None),
        ("1G", 1024**3),
        ("1GB", 1024**3),
    ],
)
def test_sizes_in_bytes_or_with_a_binary_suffix(text: str, size: int | None) -> None:
    if size is None:
        with pytest.raises(InputError, match="less than the least allowed"):
            parse_size(text, "--max-response-size")
    else:
        assert parse_size(text, "--max-response-size") == size


@pytest.mark.parametrize("text", ["", "big", "1.5G", "-1M", "1T", "12 34", "0x100000", "1e9"])
def test_what_is_not_a_size_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_size(text, "BLAND_MAX_RESPONSE_SIZE")
    message = str(raised.value)
    assert message.startswith(f"BLAND_MAX_RESPONSE_SIZE {text!r} is not a size")
    assert "\n" not in message


@pytest.mark.parametrize("text", ["0", "512", "1023K"])
def test_a_size_too_small_for_any_answer_is_refused(text: str) -> None:
    with pytest.raises(InputError, match=r"less than the least allowed \(1M\): sizes are in bytes"):
        parse_size(text, "--max-response-size")


def test_sizes_are_shown_in_mib_when_whole() -> None:
    assert shown_size(DEFAULT_MAX_RESPONSE_BYTES) == "512 MiB"
    assert shown_size(1024**2 + 1) == "1,048,577 bytes"
    assert shown_size(2 * 1024**3) == "2 GiB"
