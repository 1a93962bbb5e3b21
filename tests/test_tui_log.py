"""The log pane: normalisation, the bounded buffer, batched flushes, following the tail, search."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Log

from paper2run_tui.engine.contracts import LogLine
from paper2run_tui.tui.bridge import format_log_line
from paper2run_tui.tui.log_buffer import MAX_LINE_CHARS, LineBuffer, normalise_line
from paper2run_tui.tui.widgets.log_pane import LogPane, format_elapsed


def test_carriage_returns_keep_the_last_segment_like_a_terminal() -> None:
    assert normalise_line("Downloading  10%\rDownloading  55%\rDownloading 100%") == ["Downloading 100%"]
    assert normalise_line("done\r\n") == ["done"]


def test_ansi_escapes_and_control_characters_are_removed() -> None:
    assert normalise_line("\x1b[1;31mERROR\x1b[0m: \x1b]0;title\x07bad\x07 thing\x00") == ["ERROR: bad thing"]


def test_embedded_newlines_split_and_giant_lines_are_cut() -> None:
    assert normalise_line("a\nb\nc") == ["a", "b", "c"]
    [cut] = normalise_line("x" * 1_000_000)
    assert len(cut) < MAX_LINE_CHARS + 100 and "998000 more characters" in cut


def test_non_build_sources_are_tagged_with_where_they_came_from() -> None:
    assert format_log_line(LogLine(source="build", text="Step 1/2")) == ["Step 1/2"]
    assert format_log_line(LogLine(source="smoke", stream="stderr", text="Traceback")) == ["smoke!│ Traceback"]


def test_buffer_is_bounded_and_counts_what_it_dropped() -> None:
    buf = LineBuffer(capacity=100)
    buf.extend([str(i) for i in range(250)])
    lines, dropped = buf.drain()
    assert lines == [str(i) for i in range(150, 250)] and dropped == 150 and buf.total == 250
    assert buf.drain() == ([], 0)


def test_elapsed_format() -> None:
    assert format_elapsed(65) == "01:05" and format_elapsed(3725) == "1:02:05"


class LogHost(App[None]):
    def compose(self) -> ComposeResult:
        yield LogPane(max_lines=1_000, id="pane")


async def test_pane_caps_lines_on_screen_and_follows_the_tail() -> None:
    app = LogHost()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(LogPane)
        pane.buffer.extend([f"line {i}" for i in range(20_000)])
        await pilot.pause(0.3)  # the 80 ms timer drains the buffer
        log = pane.query_one(Log)
        assert len(pane.buffer) == 0
        assert log.line_count <= 1_000
        assert log.lines[-1] == "line 19999"
        await pilot.pause()
        assert log.is_vertical_scroll_end


async def test_pane_does_not_yank_a_reader_who_scrolled_up_and_search_finds_lines() -> None:
    app = LogHost()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(LogPane)
        pane.write_now([f"line {i}" for i in range(500)])
        await pilot.pause()
        log = pane.query_one(Log)
        log.scroll_to(y=10, animate=False)
        await pilot.pause()
        pane.write_now([f"more {i}" for i in range(100)])
        await pilot.pause()
        assert log.scroll_y == 10 and log.line_count == 600
        pane.focus()
        await pilot.press("ctrl+f")
        await pilot.press(*"line 42", "enter")
        await pilot.pause()
        assert pane._match_line == 42 and "line 43" in pane.status.note
        assert 30 <= log.scroll_y <= 42

        def marked(y: int) -> list[str]:
            """The text of the segments drawn in the match style on screen row y."""
            return [seg.text for seg in log.render_line(y) if seg.style and seg.style.bgcolor
                    and seg.style.bgcolor.name == "yellow"]

        row = 42 - int(log.scroll_y)
        assert marked(row) == ["line 42"], "the match is highlighted"
        assert marked(row + 1) == [], "line 43 does not contain 'line 42'"
        await pilot.press("escape")
        assert not pane.query_one("#log-search").display
        assert marked(row) == [], "closing the search removes the marks"
