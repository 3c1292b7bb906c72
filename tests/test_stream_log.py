"""The fix screen's output view wraps a line longer than the screen instead of cutting it at
80 columns (it once showed "... (15886767 by")."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from rescuetui.widgets.stream_log import StreamLog, wrapped_rows

LONG = ("I: The initramfs will attempt to resume from /dev/vda1 (UUID=0a1b2c3d) and "
        "update-initramfs: Generating /boot/initrd.img-6.1.0-50-cloud-amd64 (15886767 bytes)")


def test_rows_wrap_and_keep_the_last_that_fit() -> None:
    rows = wrapped_rows(["first", LONG], 40, 3)
    assert len(rows) == 3 and all(len(r) <= 40 for r in rows)
    assert rows[-1].strip().endswith("(15886767 bytes)")
    assert "".join(wrapped_rows([LONG], 40, 99)).replace(" ", "") == LONG.replace(" ", "")


class _Shows(App[None]):
    def compose(self) -> ComposeResult:
        yield StreamLog(lines=6, interval=0, id="output")


@pytest.mark.asyncio
async def test_the_output_view_shows_the_end_of_a_long_line() -> None:
    app = _Shows()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(StreamLog)
        log.write(LONG)
        await pilot.pause()
        text = str(log.render())
        assert text.split() == LONG.split(), text  # every word there, on wrapped rows
        assert max(len(line) for line in text.splitlines()) <= 80
