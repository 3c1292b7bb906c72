"""`rescuetui lab` in the TUI: pick a practice scenario; its disk is built (a real Debian disk
with a real fault) and booted once under qemu to record its console, as a cloud's boot
diagnostics would; then the guided flow runs on it, with that console as evidence and a hint at
each step."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult

from rescuetui.lab.scenarios import SCENARIOS
from rescuetui.screens.base import FlowScreen
from rescuetui.widgets.menu import MenuList
from rescuetui.widgets.shown import Shown


class PracticePickScreen(FlowScreen):
    STEP = 1
    HELP = ("Each practice system is a real Debian 12 disk image broken in one way, as systems "
            "break in the field. Pick one: it is built and booted once to record its console "
            "(a minute or two), then you repair it with the same steps as a real rescue, with "
            "that console as evidence and hints. At the end it boots under qemu again and you "
            "see whether it reaches login.")
    KEYS = [("Enter", "Build and start"), ("F1", "Help"), ("q", "Quit")]

    def title_line(self) -> str:
        return " rescuetui  practice: choose a broken system"

    def body(self) -> ComposeResult:
        self.names = sorted(SCENARIOS)
        yield Shown("Practice systems (each one fails to boot in its own way):")
        yield MenuList([f"{n:24} {SCENARIOS[n].title}" for n in self.names], id="scenarios")
        yield Shown("", id="symptom")

    def on_mount(self) -> None:
        self.query_one(MenuList).focus()
        self._show(0)

    def _show(self, index: int) -> None:
        self.query_one("#symptom", Shown).update("Symptom: " + SCENARIOS[self.names[index]].symptom)

    def on_menu_list_moved(self, event: MenuList.Moved) -> None:
        self._show(event.index)

    def on_menu_list_chosen(self, event: MenuList.Chosen) -> None:
        name = self.names[event.index]
        self.query_one("#symptom", Shown).update(
            f"Building the practice disk {name}, then booting it once to record its console "
            "(a minute or two)...")
        self.run_worker(self._build(name), exclusive=True)

    async def _build(self, name: str) -> None:
        import asyncio

        image, console = await asyncio.to_thread(prepare_practice, name)
        self.rescue.start_practice(name, image, console)


def build_practice_disk(name: str, directory: Path = Path("/var/tmp/rescuetui")) -> Path:
    from rescuetui.lab.scenario import build_scenario

    directory.mkdir(parents=True, exist_ok=True)
    image = directory / f"practice-{name}.img"
    build_scenario(SCENARIOS[name], image)
    return image


def prepare_practice(name: str, directory: Path = Path("/var/tmp/rescuetui")) -> tuple[Path, Path]:
    """The practice disk and the console of its failed boot (booted on a throwaway overlay:
    the disk stays as broken as it was built). In the field the operator has that console from
    the cloud's boot diagnostics or the serial port; the trainee gets the same."""
    from rescuetui.lab.boot import boot

    image = build_practice_disk(name, directory)
    result = boot(image, timeout=300, firmware=SCENARIOS[name].firmware)
    console = directory / f"practice-{name}-console.log"
    console.write_text(result.log)
    return image, console
