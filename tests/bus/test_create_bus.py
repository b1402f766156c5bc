"""The bus facade picks its backend from `bus.url`."""

from __future__ import annotations

import pytest

from server.bus import MemoryBus, create_bus


def test_memory_url_is_the_in_process_bus() -> None:
    assert isinstance(create_bus("memory://"), MemoryBus)


@pytest.mark.parametrize("url", ["kafka://127.0.0.1:9092", "nonsense"])
def test_an_unsupported_scheme_names_the_key(url: str) -> None:
    with pytest.raises(ValueError, match=r"bus\.url: unsupported scheme"):
        create_bus(url)
