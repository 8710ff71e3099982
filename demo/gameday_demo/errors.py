"""The one error a demo step raises: which step, why, and where to look."""

from __future__ import annotations


class DemoError(Exception):
    """A step of the demo failed: which, why, and where to look."""

    def __init__(self, step: str, why: str, look_at: str = "") -> None:
        super().__init__(f"{step}: {why}")
        self.step = step
        self.why = why
        self.look_at = look_at

    def explain(self) -> str:
        text = f"demo failed at step '{self.step}': {self.why}"
        return text + (f"\n  look at: {self.look_at}" if self.look_at else "")
