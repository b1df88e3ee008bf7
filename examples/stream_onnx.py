"""Stream series through a streaming ONNX export chunk by chunk, with onnxruntime and NumPy only
(no TensorFlow, no seqsearch): how a deployed model reads an endless sensor feed.

    seqsearch run examples/data/BasicMotions.npz --streamable --trials 8
    seqsearch export BasicMotions --streaming --chunk 10
    python examples/stream_onnx.py seqsearch-runs/BasicMotions/export-streaming examples/data/BasicMotions.npz

The model takes ``chunk`` (the next steps, raw values) and ``state`` (zeros to start, then the
``next_state`` it answered) and answers ``output``: its answer for everything read so far. The
script feeds each chosen test series ``--chunk`` steps at a time and prints the running answer;
after the last chunk it is the whole-sequence model's answer (the export checked that).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort


def stream(session, series, chunk, state_size):
    """Yield (steps read, output) after each chunk of ``series`` (steps, features)."""
    state = np.zeros((1, state_size), np.float32)
    for start in range(0, len(series), chunk):
        part = series[None, start:start + chunk].astype(np.float32)
        output, state = session.run(["output", "next_state"], {"chunk": part, "state": state})
        yield start + part.shape[1], output[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="a `seqsearch export --streaming` folder")
    parser.add_argument("data", type=Path, help=".npz with X_test (or X): the series to stream")
    parser.add_argument("--chunk", type=int, default=10, help="steps per call (default 10)")
    parser.add_argument("--series", type=int, default=3, help="how many series to stream (default 3)")
    args = parser.parse_args()
    manifest = json.loads((args.export / "manifest.json").read_text())
    state_size = sum(part["size"] for part in manifest["streaming"]["state_parts"])
    classes = manifest.get("classes") or []
    session = ort.InferenceSession(str(args.export / "model.onnx"), providers=["CPUExecutionProvider"])
    with np.load(args.data) as data:
        X = data["X_test"] if "X_test" in data.files else data["X"]
        y = data["y_test"] if "y_test" in data.files else data.get("y")
    for i in range(min(args.series, len(X))):
        label = f" (labelled {y[i]})" if y is not None else ""
        print(f"series {i}{label}: {len(X[i])} steps, {args.chunk} per call")
        for steps, output in stream(session, X[i], args.chunk, state_size):
            if classes:
                k = int(np.argmax(output))
                print(f"  after {steps:>5} steps: {classes[k]:<12} p={output[k]:.3f}")
            else:
                print(f"  after {steps:>5} steps: {np.array2string(output, precision=4)}")


if __name__ == "__main__":
    main()
