"""The README is the user's first ten minutes: its quick start runs as written and prints what
the README shows, export and predict print nothing else, and it speaks only of what users have."""

import re
import shlex

import numpy as np
import pytest

from conftest import REPO
from test_cli import seqsearch

README = (REPO / "README.md").read_text()

# What each printed line is; a sample output and a real run must list the same kinds in the same
# order (repeats collapsed: the number of trials, folds and progress lines may differ).
KINDS = [
    ("start-up", r"starting Keras on (tensorflow|jax) and the study's storage \.\.\.( \d+ s)?"),
    ("heartbeat", r"[a-z][a-zA-Z ]+ \.\.\. \d+ s"),  # a slow step's elapsed seconds (off a terminal)
    ("header", r"seqsearch: study '[^']+' on \S+ — .+ \(.+\)"),
    ("devices", r"devices: .+; Keras on (tensorflow|jax), (float32|mixed_float16|mixed_bfloat16)"),
    ("validation", r"validation: .+"),
    ("budget", r"budget: .+"),
    ("warm start", r"warm start: queued .+"),
    ("trial table", r"  trial  state +val_loss +\S+ +epochs +secs +architecture"),
    ("trial", r"  #\d+ +(fold \d+/\d+|complete|pruned|failed|running) .+"),
    ("blank", r""),
    ("leaderboard", r"leaderboard \(top \d+ of \d+ completed, by val_loss\):"),
    ("leaderboard head", r"trial +val_loss +\S+ +best_epoch +params +architecture *"),
    ("rule", r"-+( +-+)+ *"),
    ("leaderboard row", r"\d+ +\d+\.\d+ +\S+ +\d+ +\d+ +.+"),
    ("retrain", r"retraining .+ on train\+val for \d+ epochs \.\.\."),
    ("retrain average", r"retraining (the )?\d+ (best )?trials on train\+val; the export averages them.*:"),
    ("fold export", r"exporting trial #\d+ \(.+\): the average of its \d+ fold models \.\.\."),
    ("fold average", r"exporting an average of \d+ trials, .+:"),
    ("member", r"  #\d+ .+ \((weight \d\.\d+, )?val_loss \S+, \d+ epochs\)"),
    ("fold member", r"  #\d+ .+ \((weight \d\.\d+, )?val_loss \S+\): (the average of its \d+ fold models|"
                    r"retrained on train\+val for \d+ epochs)"),
    ("retrain progress", r"  retraining #\d+( \(\d+ of \d+\))?: .+"),
    ("fold progress", r"  #\d+: \d+ fold models rebuilt in \S+ s"),
    ("scoring", r"  scoring on the test split \(\d+ sequences\) \.\.\."),
    ("mlflow", r"logged to MLflow as models:/\S+"),
    ("test", r"test \(\d+ sequences\): .+"),
    ("model", r"model: .+/best/model\.keras"),
    ("browse", r"browse: seqsearch ui --study \S+.*"),
    ("export", r"(keras|savedmodel|onnx|tflite) +\S+ +\(max \|diff\| \S+ via .+\)"),
    ("manifest", r"manifest +\S+manifest\.json"),
]


def kinds(text: str) -> list[str]:
    out = []
    for line in text.rstrip("\n").splitlines():
        kind = next((k for k, pattern in KINDS if re.fullmatch(pattern, line)), f"unexpected line: {line!r}")
        if kind in ("start-up", "heartbeat"):  # printed only when a step takes long (a slow disk)
            continue
        if not out or out[-1] != kind:
            out.append(kind)
    return out


def blocks(language: str | None = None) -> list[str]:
    """The README's fenced blocks (of one language: "" for plain ones), in order."""
    found, current, lang = [], None, None
    for line in README.splitlines():
        if line.startswith("```"):
            if current is None:
                current, lang = [], line[3:].strip()
            else:
                if language is None or lang == language:
                    found.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return found


def sample(first_kind: str) -> str:
    """The README's sample output block that starts with a line of ``first_kind``."""
    return next(b for b in blocks() if kinds(b) and kinds(b)[0] == first_kind)


def test_readme_is_short_and_speaks_only_of_what_users_have():
    assert len(README.splitlines()) <= 450
    for internal in (r"DESIGN\.md", r"\bissue\b", r"\b20\d\d-\d\d-\d\d\b", r"seed tutorial",
                     r"\bseed 00\d", r"tuning suite"):
        assert not re.search(internal, README, re.I), internal


def test_the_sample_outputs_parse():
    """Every line of the README's sample outputs is a line the commands print."""
    for first in ("header", "export"):
        assert not [k for k in kinds(sample(first)) if k.startswith("unexpected")], kinds(sample(first))


@pytest.mark.slow
def test_quick_start_export_and_predict_print_what_the_readme_shows(tmp_path):
    """The quick start's command exactly as written (plus a work folder), then export and predict:
    the same kinds of lines as the README's samples, and not one warning on stderr."""
    quick = blocks("bash")[0].splitlines()[0]
    assert quick.startswith("pip install -e . && seqsearch run ")
    args = shlex.split(quick.split("&& ", 1)[1])[1:]
    wd = tmp_path / "runs"
    r = seqsearch(*args, "--workdir", wd, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr == ""
    assert kinds(r.stdout) == kinds(sample("header")), r.stdout

    r = seqsearch("export", "ItalyPowerDemand", "--workdir", wd)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr == ""
    assert kinds(r.stdout) == kinds(sample("export")), r.stdout

    data = np.load(REPO / "examples" / "data" / "ItalyPowerDemand.npz")
    np.savez(tmp_path / "new_series.npz", X=data["X_test"][:5])
    r = seqsearch("predict", wd / "ItalyPowerDemand" / "export", tmp_path / "new_series.npz")
    assert r.returncode == 0 and r.stderr == "", r.stderr[-3000:]
    assert r.stdout.splitlines()[0] == "id,prediction,p_1,p_2" and len(r.stdout.splitlines()) == 6
