"""The live terminal view: one line per trial, an updating epoch line on a terminal, and the
final leaderboard. Plain text, so it reads the same in a CI log as on a screen.

Nothing sits silent for long: on a terminal the running trial's epoch, fold and validation
loss (and every later phase: retraining, scoring, logging) update one line in place; when the
output is not a terminal (a log, a pipe), a plain line says where a long trial or phase is at
most every ``HEARTBEAT`` seconds, and each finished fold and retrained member gets its line."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time

__all__ = ["Console", "display_epoch", "format_table", "HEARTBEAT"]

# Seconds between the plain progress lines of a long trial or phase when not on a terminal.
HEARTBEAT = 10.0


def display_epoch(best_epoch):
    """A trial's best epoch as the user reads it: counted from 1 (stored 0-based, as Keras counts)."""
    return None if best_epoch is None else int(best_epoch) + 1


def _fmt(v, digits=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def format_table(rows: list[dict], columns: list[str]) -> str:
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(out)


def score_key(categorical: bool) -> str:
    """The metric shown beside the loss: accuracy for categorical targets, MAE otherwise."""
    return "val_accuracy" if categorical else "val_mae"


class Console:
    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_live = 0.0
        self._last_plain = time.monotonic()
        self._lock = threading.Lock()
        self.metric = "val_loss"
        self.score_key = None

    def echo(self, text: str = ""):
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def warn(self, text: str):
        """Something the user must know even with --quiet (a damaged file healed): stderr."""
        self._clear_live()
        print(f"warning: {text}", file=sys.stderr, flush=True)

    def _clear_live(self):
        if self.live and not self.quiet:
            print("\r\033[K", end="", file=self.stream, flush=True)

    def header(self, info: dict, config, n_done: int, warm: list | None = None, processes: int = 1):
        # Categorical targets: classes, or the tokens of seq2seq pairs (describe() gives their vocabulary).
        self.score_key = score_key(info["task"] == "classification" or bool(info.get("vocabulary")))
        if info.get("inputs"):  # several inputs: their shapes on a line of their own
            shape = "examples"
        else:
            steps = (f"{info['lengths']} steps (padded to {info['timesteps']} and masked)" if info.get("lengths")
                     else f"{info['timesteps']} steps")
            shape = f"sequences of {steps} x {info['features']} features"
        self.echo(
            f"seqsearch: study {config.study!r} on {info['name']} — {info['task']}, "
            f"{info['n_train']}/{info['n_val']}/{info['n_test']} train/val/test {shape} (test split {info['test_split']}"
            + (f"; loaded in {info['load_seconds']:.1f} s)" if "load_seconds" in info else ")")
        )
        if info.get("devices"):
            self.echo(info["devices"])
        from .data.kinds import get_kind

        for line in get_kind(info.get("kind")).header_lines(info):
            self.echo(line)
        if info.get("missing"):
            self.echo(f"missing values: {info['missing']}")
        if info.get("folds", 1) > 1:
            self.echo(f"validation: a trial that completes on the validation split among the best 3 so far, and "
                      f"not worse than every fold of the best cross-validated one, is cross-validated on "
                      f"{info['folds']} folds of train+val and ranked by their mean val_loss; the others end "
                      f"pruned (--folds 1: the split alone)")
        if config.timeout:
            self.echo(f"budget: {config.timeout:g} s for the whole command (search, retrain, test, export); each "
                      f"trial gets a share of the search time left, and one too slow for it is pruned")
        if processes > 1:
            self.echo(f"parallel: {processes} processes train trials at once on this machine (--jobs 1: one)")
        if n_done:
            self.echo(f"resuming: {n_done} finished trial(s) kept; target {config.trials} trials")
        if warm:
            self.echo(f"warm start: queued {', '.join(warm)}")
        self.echo(f"  {'trial':>5}  {'state':8}  {'val_loss':>8}  {self.score_key:>12}  {'epochs':>6}  {'secs':>6}  architecture")

    def status(self, text: str, always: bool = False):
        """Progress of a trial or phase: rewritten in place on a terminal; otherwise a plain
        line when ``always`` or when nothing was printed for ``HEARTBEAT`` seconds."""
        if self.quiet:
            return
        now = time.monotonic()
        with self._lock:
            if self.live:
                if always:
                    print(f"\r\033[K{text}", file=self.stream, flush=True)
                elif now - self._last_live >= 0.2:
                    self._last_live = now
                    print(f"\r\033[K{text}", end="", file=self.stream, flush=True)
            elif always or now - self._last_plain >= HEARTBEAT:
                self._last_plain = now
                print(text, file=self.stream, flush=True)

    def begin_trial(self):
        self._last_plain = time.monotonic()  # a trial's first plain progress line after HEARTBEAT s

    def epoch(self, number: int, epoch: int, max_epochs: int, logs: dict, summary: str, fold=None):
        where = f"  fold {fold[0]}/{fold[1]}" if fold else ""
        self.status(f"  #{number:<4}  running   epoch {epoch + 1}/{max_epochs}{where}  val_loss "
                    f"{_fmt(logs.get('val_loss'))}  {summary}")

    def fold(self, number: int, fold: int, folds: int, outcome, summary: str):
        """A finished fold of a cross-validated trial: its own line when not on a terminal."""
        label = f"fold {fold}/{folds}"
        value = _fmt(outcome.value) if outcome.state == "complete" else outcome.state
        self.status(f"  #{number:<4}  {label:8}  {value:>8}  {'':>12}  {outcome.epochs_run:>6}  "
                    f"{outcome.seconds:>6.1f}  {summary}", always=not self.live)

    @contextlib.contextmanager
    def phase(self, text: str):
        """A step without epochs of its own (starting TensorFlow, logging the model): on a
        terminal its elapsed seconds tick in place; elsewhere a line every ``HEARTBEAT`` s."""
        if self.quiet:
            yield
            return
        started = time.monotonic()
        stop = threading.Event()

        def tick():
            while not stop.wait(1.0):
                self.status(f"{text} ... {time.monotonic() - started:.0f} s")

        self._last_plain = started
        self.status(f"{text} ...")
        ticker = threading.Thread(target=tick, name="seqsearch-progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
            self._clear_live()

    def trial(self, number, outcome, summary, best_number, best_value):
        self._clear_live()
        score = outcome.metrics.get(self.score_key)
        best = f"   best #{best_number} ({best_value:.4f})" if best_number is not None else ""
        reason = f"  [{outcome.reason}]" if outcome.reason else ""
        self.echo(
            f"  #{number:<4}  {outcome.state:8}  {_fmt(outcome.value):>8}  {_fmt(score):>12}  "
            f"{outcome.epochs_run:>6}  {outcome.seconds:>6.1f}  {summary}{reason}{best}"
        )

    def leaderboard(self, rows: list[dict], top: int = 10):
        if not rows:
            return
        self.echo("")
        self.echo(f"leaderboard (top {min(top, len(rows))} of {len(rows)} completed, by val_loss):")
        cols = ["trial", "val_loss", self.score_key, "best_epoch", "params", "architecture"]
        self.echo(format_table(rows[:top], cols))
