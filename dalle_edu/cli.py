"""The ``dalle-edu`` command.

    dalle-edu generate "a big red circle at the top left" -n 8 -o grid.png
    dalle-edu train --preset cpu [--out runs/t2i] [--resume] [--steps N] [--set KEY=VALUE ...]
    dalle-edu evaluate [--weights runs/t2i]
    dalle-edu notebooks --out course_output [--preset cpu] [--only 01]

    dalle-edu notebooks --out course_output [--preset cpu] [--only 01]

runs every course notebook headless, in order, and writes the pictures each one draws
(plus the executed notebook) to the output folder. With ``--inplace`` the executed
notebooks replace the originals: the way their committed outputs are refreshed
(``dalle-edu notebooks --preset cpu --only 05 --inplace``). Bad input gives a one-line message
and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import time
from pathlib import Path


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


def _run_notebooks(args) -> int:
    from dalle_edu import presets

    if args.preset:
        presets.get(args.preset)  # validates, listing the valid names
        os.environ[presets.ENV_VAR] = args.preset
    # each kernel detects the hardware itself when no preset is given
    preset = os.environ.get(presets.ENV_VAR) or "detected"
    src = Path(args.dir)
    paths = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(o) for o in args.only)]
    if not paths:
        raise UsageError(f"no notebooks found in {src}/ (looked for NN_name.ipynb)")

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"Running {len(paths)} notebook(s) with preset: {preset}; pictures go to {out}/")
    failures = 0
    for i, path in enumerate(paths, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{len(paths)}] {path.name} ...", end="", flush=True)
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(src)}})
        try:
            client.execute()
            status = "ok"
        except CellExecutionError as err:
            failures += 1
            status = "FAILED: " + str(err).strip().splitlines()[-1][:200]
        strip_native_logs(nb)
        lab_form(nb)
        n = _save_pictures(nb, out / path.stem)
        nbformat.write(nb, out / path.stem / path.name)
        if args.inplace and status == "ok":
            nbformat.write(nb, path)
        print(f" {status} ({time.perf_counter() - t0:.0f} s, {n} picture(s))")
    print(f"Done: {len(paths) - failures} of {len(paths)} notebooks ran; open {out}/ to see the pictures.")
    return 1 if failures else 0


# TensorFlow's C++ start-up lines (absl/oneDNN/CUDA probes): written to the process's
# stderr before Python can silence them, so the kernel captures them into cell outputs.
_NATIVE_LOG = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:. ]+\d+ \w+\.cc:\d+\]"
    r"|To enable the following instructions:)"
)


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def lab_form(nb) -> None:
    """Store ``nb`` as JupyterLab saves it, so opening a chapter and saving changes nothing.

    Lab writes the kernelspec's own display name, and the notebook travels through the
    browser's JSON, where a float like 1.0 comes back as 1 (widget state holds many).
    """
    nb.metadata["kernelspec"] = dict(KERNELSPEC)

    def js(x):
        if isinstance(x, float) and x.is_integer():
            return int(x)
        if isinstance(x, dict):
            for k, v in x.items():
                x[k] = js(v)
        elif isinstance(x, list):
            x[:] = [js(v) for v in x]
        return x
    js(nb)


def strip_native_logs(nb) -> None:
    """Drop TensorFlow's native log lines from stderr outputs (they say nothing to a reader)."""
    for cell in nb.cells:
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = [l for l in output["text"].splitlines(keepends=True) if not _NATIVE_LOG.match(l)]
                if not "".join(lines).strip():
                    continue
                output["text"] = "".join(lines)
            if (kept and output.get("output_type") == "stream" and kept[-1].get("output_type") == "stream"
                    and kept[-1].get("name") == output.get("name")):
                kept[-1]["text"] += output["text"]  # one box per run of prints, as Jupyter shows it
                continue
            kept.append(output)
        if "outputs" in cell:
            cell["outputs"] = kept


def _save_pictures(nb, folder: Path) -> int:
    """Write every PNG output of the executed notebook as folder/cellNN_k.png."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for c, cell in enumerate(nb.cells):
        for k, output in enumerate(cell.get("outputs", [])):
            png = output.get("data", {}).get("image/png")
            if png:
                (folder / f"cell{c:02d}_{k}.png").write_bytes(base64.b64decode(png))
                n += 1
    return n


def _generate(args) -> int:
    from dalle_edu import api, images as imgs

    if args.n < 1:
        raise UsageError(f"-n must be at least 1, got {args.n}")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"-o {out}: give a .png or .jpg file name")
    t0 = time.perf_counter()
    if args.rerank < 1:
        raise UsageError(f"--rerank must be at least 1, got {args.rerank}")
    sampling = {k: v for k, v in (("steps", args.steps), ("guidance", args.guidance))
                if v is not None}
    images = api.generate(args.prompts, seed=args.seed, n_per_prompt=args.n, model=args.model,
                          weights=args.weights, rerank=args.rerank, **sampling)
    from PIL import Image

    grid = imgs.tile(images, nrow=args.n)  # one row per prompt
    scale = max(1, 256 // images.shape[1])
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)  # each pixel drawn scale x scale
    grid = imgs.label_rows(grid, args.prompts, row_height=images.shape[1] * scale, pad=scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(out)
    print(f"wrote {out}: {len(args.prompts)} prompt(s) x {args.n} image(s) "
          f"({time.perf_counter() - t0:.2f} s)")
    return 0


def config_overrides(pairs) -> dict:
    """``["width=40", "lr=2e-4", "clip=None", "text_encoder=clip"]`` -> config overrides.

    Values are JSON (``None`` also reads as null), else text. ``--set`` of ``dalle-edu
    train`` and of the benchmarks.
    """
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes KEY=VALUE pairs (e.g. width=40), got {pair!r}")
        try:
            out[key] = None if value in ("None", "none") else json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _train(args) -> int:
    from dalle_edu import api, presets

    preset = args.preset or presets.detect()
    overrides = config_overrides(args.set)
    if args.steps is not None:  # --steps 0 is a value to check, not "the preset's"
        overrides["steps"] = args.steps
    what = {"clip": "a mini-CLIP", "dalle": "the token model 'dalle' (tokenizer, then transformer)",
            "diffusion": "the diffusion model 'diffusion' (a U-Net, guided by the mini-CLIP)"}.get(
        args.model, f"the text-to-image GAN {args.model!r}")
    where = "" if args.model == "clip" else f"; checkpoints in {args.out}/checkpoints"
    print(f"training {what}, preset {preset}{where}" + (" (resuming)" if args.resume else ""))
    api.train(preset, args.out, resume=args.resume, verbose=1 if sys.stdout.isatty() else 2,
              model=args.model, **overrides)
    if args.model == "clip":
        print(f"saved the mini-CLIP to {args.out}/")
    else:
        print(f"saved the model to {args.out}/; try: dalle-edu generate \"a blue circle\" "
              f"--model {args.model} --weights {args.out}")
    return 0


def _evaluate(args) -> int:
    import warnings

    from dalle_edu import api

    with warnings.catch_warnings():  # FID's small-n bias: the real column is the floor to read
        warnings.simplefilter("ignore", UserWarning)
        table = api.evaluate(args.model, args.weights, n=args.n)
    print(f"Chapter 10's measures, {args.n} prompts per split (real renders: the floor)")
    width = max(len(k) for k in table["model"]) + 2
    print(f"{'measure':<{width}}{args.model:>12}{'real':>12}")
    for k, v in table["model"].items():
        print(f"{k:<{width}}{v:>12}{table['real'][k]:>12}")
    return 0


def _model_args(parser):
    from dalle_edu.api import DEFAULT_MODEL, MODELS

    names = ", ".join(f"{k} ({v})" for k, v in MODELS.items())
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"which model (default {DEFAULT_MODEL}); shipped: {names}")
    parser.add_argument("--weights", default=None,
                        help="a folder with your own trained model of that kind (default: the shipped one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dalle-edu", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="draw images from text prompts with a trained model")
    g.add_argument("prompts", nargs="+", help='e.g. "a big red circle at the top left"')
    g.add_argument("-n", type=int, default=8, help="images per prompt (default 8)")
    g.add_argument("-o", "--out", default="grid.png", help="output picture (default grid.png)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--rerank", type=int, default=1, metavar="K",
                   help="draw K candidates per image, keep the one the mini-CLIP likes best")
    g.add_argument("--steps", type=int, default=None,
                   help="diffusion: sampling steps (DDIM; default 25)")
    g.add_argument("--guidance", type=float, default=None,
                   help="diffusion: classifier-free guidance scale w (default 3; 1 = none)")
    _model_args(g)
    g.set_defaults(func=_generate)
    t = sub.add_parser("train", help="train a text-to-image model (progress bar, checkpoints, --resume)")
    t.add_argument("--preset", default=None, help="smoke, cpu or gpu (default: detected)")
    t.add_argument("--out", default="runs/t2i", help="folder for checkpoints and the trained model")
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    t.add_argument("--steps", type=int, default=None, help="override the preset's number of steps")
    t.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override the preset's config, e.g. --set width=40 batch_size=64 lr=2e-4 "
                        "(the shipped gan-labels recipe, with --steps 16000)")
    t.add_argument("--model", default="gan-labels",
                   choices=("gan-labels", "gan", "dalle", "diffusion", "clip"),
                   help="what to train (default gan-labels; gan: label-free; dalle: tokenizer + "
                        "transformer; diffusion: a U-Net in the tokenizer's latents; clip: mini-CLIP)")
    t.set_defaults(func=_train)
    e = sub.add_parser("evaluate", help="print every measure of a trained model beside real renders")
    _model_args(e)
    e.add_argument("-n", type=int, default=1000, help="prompts per split")
    e.set_defaults(func=_evaluate)
    nb = sub.add_parser("notebooks", help="run every course notebook headless and save its pictures")
    nb.add_argument("--out", default="course_output", help="folder for pictures and executed notebooks")
    nb.add_argument("--dir", default="notebooks", help="folder holding the course notebooks")
    nb.add_argument("--preset", default=None, help="smoke, cpu or gpu (default: $DALLE_EDU_PRESET or detected)")
    nb.add_argument("--only", nargs="*", help="chapter prefixes to run, e.g. --only 01 03")
    nb.add_argument("--inplace", action="store_true",
                    help="write the executed notebooks back into --dir (refreshes committed outputs)")
    nb.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    nb.set_defaults(func=_run_notebooks)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ValueError, FileNotFoundError) as err:
        print(f"dalle-edu: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dalle-edu: interrupted", file=sys.stderr)
        return 130


def _quiet_native_logs():
    """Drop TensorFlow's native start-up lines (absl, CUDA probes) from this process's stderr.

    They are written by C++ straight to file descriptor 2, before and beside any Python
    logging, and say nothing to a user ("Could not find cuda drivers", "failed call to
    cuInit" on a machine without a GPU). Only the command does this, and only when the
    user has not set ``TF_CPP_MIN_LOG_LEVEL`` (then what they asked for is what they get).
    Every other line reaches the real stderr unchanged.
    """
    import atexit
    import threading

    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    real = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump():
        with os.fdopen(read, "rb") as src, os.fdopen(os.dup(real), "wb", buffering=0) as dst:
            for line in src:
                if not _NATIVE_LOG.match(line.decode("utf-8", "replace")):
                    dst.write(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()

    def restore():
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer closes: the pump reads EOF and ends
        thread.join(timeout=2)

    atexit.register(restore)


def entry() -> int:
    """The ``dalle-edu`` console script: ``main`` with TensorFlow's native start-up noise removed."""
    _quiet_native_logs()
    return main()


if __name__ == "__main__":
    sys.exit(entry())
