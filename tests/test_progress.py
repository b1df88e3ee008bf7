"""Progress in every phase: on a terminal one line rewritten in place; in a log or a pipe plain
lines, at most one per HEARTBEAT seconds for a long trial or phase, and one per finished fold."""

import io
import time

import seqsearch.progress as progress
from seqsearch.progress import Console
from seqsearch.training import TrialOutcome


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_long_trial_prints_plain_lines_at_most_once_per_heartbeat(monkeypatch):
    monkeypatch.setattr(progress, "HEARTBEAT", 0.05)
    out = io.StringIO()
    c = Console(stream=out)
    assert not c.live
    c.begin_trial()
    for epoch in range(5):  # fast epochs: nothing yet
        c.epoch(3, epoch, 100, {"val_loss": 0.5}, "gru 1x32", fold=(2, 3))
    assert out.getvalue() == ""
    time.sleep(0.06)
    c.epoch(3, 5, 100, {"val_loss": 0.4}, "gru 1x32", fold=(2, 3))
    c.epoch(3, 6, 100, {"val_loss": 0.3}, "gru 1x32", fold=(2, 3))  # within the heartbeat: dropped
    lines = out.getvalue().splitlines()
    assert lines == ["  #3     running   epoch 6/100  fold 2/3  val_loss 0.4000  gru 1x32"]
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()


def test_every_finished_fold_gets_its_line_when_not_on_a_terminal():
    out = io.StringIO()
    c = Console(stream=out)
    for k in (1, 2, 3):
        c.fold(7, k, 3, TrialOutcome(state="complete", value=0.25 * k, epochs_run=12, seconds=1.5), "lstm 1x64")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[1].split()[:4] == ["#7", "fold", "2/3", "0.5000"]


def test_a_silent_phase_ticks(monkeypatch):
    monkeypatch.setattr(progress, "HEARTBEAT", 0.3)
    out = io.StringIO()
    with Console(stream=out).phase("logging the best model to MLflow"):
        time.sleep(1.5)  # a blocking call: the ticker still speaks
    assert "logging the best model to MLflow ... 1 s" in out.getvalue()
    quick = io.StringIO()
    with Console(stream=quick).phase("quick"):
        pass
    assert quick.getvalue() == ""  # a short phase leaves a log alone


def test_on_a_terminal_the_line_is_rewritten_in_place():
    out = _Tty()
    c = Console(stream=out)
    assert c.live
    c.epoch(0, 0, 10, {"val_loss": 1.0}, "rnn")
    c.status("  retraining #0: 3 epochs in 1.0 s", always=True)
    text = out.getvalue()
    assert text.startswith("\r\033[K  #0     running   epoch 1/10") and text.endswith("in 1.0 s\n")
    quiet = io.StringIO()
    Console(stream=quiet, quiet=True).status("x", always=True)
    assert quiet.getvalue() == ""
