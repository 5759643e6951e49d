"""The live training display: a ``transformers.TrainerCallback`` drawing one rich panel on stderr
(step, epoch, loss, learning rate, DPO reward margin and accuracy, RLPA rewards, KL and format-error
rate, tokens/s, time left) in place of TRL's tqdm bars and printed log dicts. Only the main process
draws."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback

#: Logged values shown when present, with their labels and formats.
_SHOWN = (("loss", "loss", "{:.4f}"), ("learning_rate", "lr", "{:.2e}"), ("rewards/margins", "margin", "{:+.3f}"),
          ("rewards/accuracies", "acc", "{:.2f}"), ("reward", "reward", "{:.3f}"),
          ("rewards/profile/mean", "profile", "{:.3f}"), ("rewards/response/mean", "response", "{:.2f}"),
          ("kl", "kl", "{:.4f}"), ("rlpa/format_error_rate", "malformed", "{:.0%}"), ("grad_norm", "grad", "{:.2f}"))


class RichProgressCallback(TrainerCallback):
    """Draws the progress of a training run; ``enabled=False`` draws nothing (quiet runs, pipes)."""

    def __init__(self, console, title: str, enabled: bool = True):
        self.console = console
        self.title = title
        self.enabled = enabled
        self.live = None
        self.step = 0
        self.total = 0
        self.epoch = 0.0
        self.last: dict[str, float] = {}
        self.tokens = 0.0
        self._t0 = 0.0
        self._step0 = 0
        self._tokens0 = 0.0

    def _render(self):
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        elapsed = max(time.monotonic() - self._t0, 1e-9)
        done = self.step - self._step0
        rate = done / elapsed if done else 0.0
        left = (self.total - self.step) / rate if rate else None
        grid = Table.grid(padding=(0, 1))
        grid.add_row(f"[bold]{self.title}[/]", ProgressBar(total=max(self.total, 1), completed=self.step, width=30),
                     f"step {self.step}/{self.total}", f"epoch {self.epoch:.2f}",
                     f"{_clock(elapsed)} elapsed" + (f", ~{_clock(left)} left" if left is not None else ""))
        values = [f"{label} {fmt.format(self.last[key])}" for key, label, fmt in _SHOWN if key in self.last]
        if self.tokens > self._tokens0:
            values.append(f"{(self.tokens - self._tokens0) / elapsed:,.0f} tokens/s")
        grid.add_row("", "  ".join(values) or "waiting for the first step ...", "", "", "")
        return grid

    def on_train_begin(self, args, state, control, **kwargs: Any):
        """Start the panel (the step count already done, on a resumed run, is not in the rate)."""
        self.total, self.step, self._step0 = state.max_steps, state.global_step, state.global_step
        self._t0 = time.monotonic()
        if self.enabled and state.is_world_process_zero:
            from rich.live import Live

            # No refresh thread: on 2 cores a thread waking 4 times a second next to the OpenMP
            # workers measurably slowed training; the panel is redrawn on each step and log instead.
            self.live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
            self.live.start()

    def on_step_end(self, args, state, control, **kwargs: Any):
        """Advance the bar."""
        self.step, self.epoch = state.global_step, state.epoch or 0.0
        self._refresh()

    def on_log(self, args, state, control, logs=None, **kwargs: Any):
        """Show the latest logged values."""
        logs = logs or {}
        self.last.update({k: v for k, v in logs.items() if isinstance(v, (int, float))})
        if "num_tokens" in logs:
            if not self.tokens:  # a resumed run: rate from here on
                self._tokens0 = float(logs["num_tokens"]) if self.step - self._step0 > 1 else 0.0
            self.tokens = float(logs["num_tokens"])
        self._refresh()

    def on_train_end(self, args, state, control, **kwargs: Any):
        """Draw the final state and stop."""
        self.step = state.global_step
        self.close()

    def close(self) -> None:
        """Stop drawing (also after an error or Ctrl-C)."""
        if self.live is not None:
            self.live.update(self._render(), refresh=True)
            self.live.stop()
            self.live = None

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render(), refresh=True)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
