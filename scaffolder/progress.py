"""Progress: one event shape for every engine, and the two ways a person sees it.

Engines (`fill`, `validate`, `test`, the demo, the round) call `progress(table, event)`: the table
the event is about ("" for the command as a whole) and what happens to it now, in words. They
never render: the CLI shows the events with `progress_view` (a live line per table in a terminal,
one plain line per event when piped, so a log or CI shows the same story) and the MCP server
turns them into MCP progress notifications.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

Progress = Callable[[str, str], None]  # (table, or "" for the whole command; what happens now)


def quiet(table: str, event: str) -> None:
    """The progress of an engine nobody watches."""


def label(table: str, event: str) -> str:
    return f"{table}: {event}" if table else event


@contextmanager
def progress_view(console: Console) -> Iterator[Progress]:
    """Show an engine's events: live per-table lines in a terminal, plain lines otherwise.

    Piped output gets every event once, in order (a repeat of a table's last event is dropped),
    so `scaffold fill ... | tee fill.log` tells the same story the terminal shows.
    """
    if not console.is_terminal:
        last: dict[str, str] = {}

        def plain(table: str, event: str) -> None:
            if last.get(table) != event:
                last[table] = event
                console.print(escape(label(table, event)), highlight=False, soft_wrap=True)

        yield plain
        return

    from rich.progress import Progress as Bars
    from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    with Bars(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bars:
        rows: dict[str, TaskID] = {}

        def live(table: str, event: str) -> None:
            text = escape(label(table, event))
            if table not in rows:
                rows[table] = bars.add_task(text, total=None)
            else:
                bars.update(rows[table], description=text)
            if event in FINAL:
                bars.update(rows[table], total=1, completed=1)  # its timer stops: that table is done
            else:
                bars.update(rows[table], total=None, completed=0)  # moving again (a repair after "not proven")

        yield live


FINAL = frozenset({"filled", "failed", "refused", "proven", "not proven", "kept", "would-write"})
