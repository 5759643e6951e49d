"""``--max-cost``: stop starting new calls once a run's spend reaches a limit.

The spend is what the backends reported (``Reply.cost``; cached calls are free) over every
invocation of the run: the records already stored plus this invocation's calls. Calls already
in flight when the limit is reached still finish, so the spend can pass it by at most one
batch of calls; everything they produced is stored and the run resumes from there.
"""

from __future__ import annotations

from typing import Callable


class Budget:
    """A spend limit in US dollars (None: no limit). ``prior``: what stored records already
    cost; ``live()``: what this invocation has spent so far."""

    def __init__(self, limit: float | None, prior: float = 0.0, live: Callable[[], float] = lambda: 0.0):
        self.limit = limit
        self.prior = prior
        self.live = live

    @property
    def spent(self) -> float:
        """The run's spend so far."""
        return self.prior + self.live()

    @property
    def reached(self) -> bool:
        """True once the spend has reached the limit."""
        return self.limit is not None and self.spent >= self.limit

    def message(self) -> str:
        """What to tell the user when the limit stopped the run."""
        return (f"Stopped at --max-cost ${self.limit:.4f}: ${self.spent:.4f} spent so far. "
                "Resume with a higher --max-cost to continue.")
