"""`rescuetui lab` in the TUI: pick a practice scenario; its disk is built (a real Debian disk
with a real fault), then the guided flow runs on it with a hint at each step."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.widgets import Static

from rescuetui.lab.scenarios import SCENARIOS
from rescuetui.screens.base import FlowScreen
from rescuetui.widgets.menu import MenuList


class PracticePickScreen(FlowScreen):
    STEP = 1
    HELP = ("Each practice system is a real Debian 12 disk image broken in one way, as systems "
            "break in the field. Pick one: it is built (about half a minute), then you repair it "
            "with the same steps as a real rescue, with hints. At the end it boots under qemu "
            "and you see whether it reaches login.")
    KEYS = [("Enter", "Build and start"), ("F1", "Help"), ("q", "Quit")]

    def title_line(self) -> str:
        return " rescuetui  practice: choose a broken system"

    def body(self) -> ComposeResult:
        self.names = sorted(SCENARIOS)
        yield Static("Practice systems (each one fails to boot in its own way):", markup=False)
        yield MenuList([f"{n:24} {SCENARIOS[n].title}" for n in self.names], id="scenarios")
        yield Static("", id="symptom", markup=False)

    def on_mount(self) -> None:
        self.query_one(MenuList).focus()
        self._show(0)

    def _show(self, index: int) -> None:
        self.query_one("#symptom", Static).update("Symptom: " + SCENARIOS[self.names[index]].symptom)

    def on_menu_list_moved(self, event: MenuList.Moved) -> None:
        self._show(event.index)

    def on_menu_list_chosen(self, event: MenuList.Chosen) -> None:
        name = self.names[event.index]
        self.query_one("#symptom", Static).update(f"Building the practice disk {name}...")
        self.run_worker(self._build(name), exclusive=True)

    async def _build(self, name: str) -> None:
        import asyncio

        image = await asyncio.to_thread(build_practice_disk, name)
        self.rescue.start_practice(name, image)


def build_practice_disk(name: str, directory: Path = Path("/var/tmp/rescuetui")) -> Path:
    from rescuetui.lab.scenario import build_scenario

    directory.mkdir(parents=True, exist_ok=True)
    image = directory / f"practice-{name}.img"
    build_scenario(SCENARIOS[name], image)
    return image
