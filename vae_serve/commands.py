"""The client commands of `vae-serve`, each a parser and a run function over `vae_client.Client`.
A run function returns what to print (or None) and raises on failure."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vae_client import Client, Scored, Scores
from vae_client.images import save
from vae_core.vocabulary import SamplerName, values

# +Name, -Name, +Name=2, -Name=1.5: an attribute and its strength (1 when not given).
EDIT = re.compile(r"^([+-])([^=\s][^=]*?)(?:=([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?))?$")
EDIT_OPTIONS = {"-m", "--model", "-o", "--output", "--url", "--api-key", "--timeout"}


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, api_key=args.api_key, timeout=args.timeout)


def _model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", required=True, help="the model's name (vae-serve models)")


def _output(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument(
        "-o", "--output", type=Path, required=default is None, default=default, help="file to write"
    )


def _wrote(path: Path, what: str) -> str:
    return f"wrote {path}: {what}"


# ------------------------------------------------------------------------------------- models


def models_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the server's JSON")


def run_models(args: argparse.Namespace) -> str:
    with _client(args) as client:
        models = client.models()
    if args.json:
        return json.dumps([m.metadata for m in models], indent=1)
    rows = [("MODEL", "KIND", "LATENT", "IMAGE", "ATTRIBUTES")]
    for m in models:
        if not m.available:
            rows.append((m.name, "unavailable", "", "", m.reason or ""))
            continue
        image = "x".join(map(str, m.image_shape or ()))
        attributes = ", ".join(m.attributes[:6]) + (", ..." if len(m.attributes) > 6 else "")
        rows.append((m.name, m.kind or "", str(m.latent_dim), image, attributes))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    )


# ------------------------------------------------------------------------------------- encode


def encode_arguments(parser: argparse.ArgumentParser) -> None:
    _model(parser)
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--sample", action="store_true", help="also draw z ~ q(z|x)")
    parser.add_argument("--seed", type=int, help="seed for --sample")


def run_encode(args: argparse.Namespace) -> str:
    with _client(args) as client:
        codes = client.encode(args.images, model=args.model, sample=args.sample, seed=args.seed)
    result: dict[str, Any] = {
        "z_mean": codes.z_mean.tolist(),
        "z_log_var": _listed(codes.z_log_var),
    }
    if codes.z is not None:
        result |= {"z": codes.z.tolist(), "seed": codes.seed}
    return json.dumps(result)


def _listed(array: np.ndarray | None) -> list[Any] | None:
    return None if array is None else array.tolist()


# ------------------------------------------------------------------------------------- decode


def decode_arguments(parser: argparse.ArgumentParser) -> None:
    _model(parser)
    parser.add_argument("--z", required=True, type=_codes, help="codes as JSON: [[...], ...]")
    _output(parser)


def _codes(text: str) -> np.ndarray:
    try:
        z = np.asarray(json.loads(text), dtype=np.float32)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError("not a JSON list of numbers (or of lists)") from None
    if z.ndim not in (1, 2) or z.size == 0:
        raise argparse.ArgumentTypeError("one code [...] or several [[...], ...]")
    return z


def run_decode(args: argparse.Namespace) -> str:
    with _client(args) as client:
        images = client.decode(args.z, model=args.model)
    save(images, args.output)
    return _wrote(args.output, f"{len(images)} image(s)")


# ------------------------------------------------------------------------------------- sample


def sample_arguments(parser: argparse.ArgumentParser) -> None:
    _model(parser)
    parser.add_argument("-n", type=int, default=16, help="how many (default 16)")
    parser.add_argument("--seed", type=int, help="same seed, same images")
    parser.add_argument("--temperature", type=float, help="scales the sampler's spread")
    parser.add_argument(
        "--sampler", choices=values(SamplerName), help="default: the model's best measured"
    )
    _output(parser)


def run_sample(args: argparse.Namespace) -> str:
    with _client(args) as client:
        samples = client.sample(
            args.n, model=args.model, seed=args.seed, sampler=args.sampler,
            temperature=args.temperature,
        )  # fmt: skip
    save(samples.images, args.output)
    return _wrote(args.output, f"{args.n} samples, seed {samples.seed}, sampler {samples.sampler}")


# --------------------------------------------------------------------------------------- edit


def split_edits(argv: list[str]) -> tuple[dict[str, float], list[str]]:
    """`+Name[=s]` and `-Name[=s]` from an edit command line (before argparse, which would read
    `-Eyeglasses` as an option), and the rest. A value after an option is never an edit."""
    edits: dict[str, float] = {}
    rest: list[str] = []
    after_option = False
    for token in argv:
        match = EDIT.match(token)
        if after_option or token.split("=")[0] in EDIT_OPTIONS or token.startswith("--"):
            after_option = token in EDIT_OPTIONS
            rest.append(token)
        elif match and token not in ("-h",):
            sign, name, strength = match.groups()
            edits[name] = (1.0 if strength is None else float(strength)) * (
                -1 if sign == "-" else 1
            )
        else:
            rest.append(token)
    return edits, rest


def edit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "vae-serve edit -m MODEL IMAGE [IMAGE ...] +ATTR[=S] -ATTR[=S] ... -o OUTPUT"
    parser.description = (
        "Add (+) or subtract (-) attribute vectors, S times each (default 1): "
        "z = z_mean + sum of S * vector. One image is written as it is, several as a grid."
    )
    _model(parser)
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _output(parser)


def run_edit(args: argparse.Namespace) -> str:
    if not args.edits:
        raise ValueError("name at least one attribute: +Name, -Name, +Name=2 or -Name=1.5")
    with _client(args) as client:
        edited = client.edit(args.images, args.edits, model=args.model)
    save(edited.images, args.output)
    moves = " ".join(f"{name}{strength:+g}" for name, strength in args.edits.items())
    return _wrote(args.output, f"{len(edited.images)} image(s), {moves}")


# -------------------------------------------------------------------------------- interpolate


def interpolate_arguments(parser: argparse.ArgumentParser) -> None:
    _model(parser)
    parser.add_argument("start", type=Path, metavar="A")
    parser.add_argument("end", type=Path, metavar="B")
    parser.add_argument("--steps", type=int, default=12, help="frames, both ends included")
    parser.add_argument("--method", default="linear", help="linear or slerp")
    parser.add_argument("--frame-ms", type=int, default=100, help="GIF frame duration")
    _output(parser)


def run_interpolate(args: argparse.Namespace) -> str:
    walk = {"model": args.model, "steps": args.steps, "method": args.method}
    with _client(args) as client:
        if args.output.suffix.lower() == ".gif":
            gif = client.interpolate_gif(args.start, args.end, frame_ms=args.frame_ms, **walk)
            args.output.write_bytes(gif)
        else:  # a PNG (or other) strip, left to right
            frames = client.interpolate(args.start, args.end, **walk)
            save(frames.images, args.output, columns=len(frames.images))
    return _wrote(args.output, f"{args.steps} frames")


# -------------------------------------------------------------------------------------- score

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
OUTPUT_FORMATS = ("table", "csv", "json")


def score_arguments(parser: argparse.ArgumentParser) -> None:
    _model(parser)
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="images or folders")
    parser.add_argument("--score", help="which score decides (default: the model's)")
    rule = parser.add_mutually_exclusive_group()
    rule.add_argument("--fpr", type=float, help="false-positive rate (default: the model's)")
    rule.add_argument("--threshold", type=float, help="flag scores above this instead")
    parser.add_argument("--all-scores", action="store_true", help="a column per score")
    parser.add_argument("--rank", action="store_true", help="most anomalous first")
    parser.add_argument("--batch", type=int, default=32, help="images per request (default 32)")
    parser.add_argument(
        "--maps", type=Path, metavar="FOLDER", help="write each image's anomaly map there (PNG)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, help="write .csv or .json there instead of printing"
    )
    parser.add_argument("--format", choices=OUTPUT_FORMATS, help="default: by -o, else table")


def run_score(args: argparse.Namespace) -> str:
    files = image_files(args.paths)
    rows: list[dict[str, Any]] = []
    name = args.score
    request = {"score": args.score, "fpr": args.fpr, "threshold": args.threshold}
    with _client(args) as client, Progress(len(files), "scored") as progress:
        for start in range(0, len(files), max(1, args.batch)):
            batch = files[start : start + max(1, args.batch)]
            scores = client.score(
                batch,
                model=args.model,
                map=args.maps is not None,
                all_scores=args.all_scores,
                **request,
            )
            rows += [
                _score_row(start + i, path, scores, result, args.maps)
                for i, (path, result) in enumerate(zip(batch, scores.results, strict=True))
            ]
            progress.advance(len(batch))
            name = scores.score
    if args.rank:
        rows.sort(key=lambda row: row["score"], reverse=True)
    return _score_output(rows, args, name)


def image_files(paths: list[Path]) -> list[Path]:
    """The image files named, and those in the folders named (recursively, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            files += [p for p in found if not any(part.startswith(".") for part in p.parts)]
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"{path}: no such file or folder")
    if not files:
        raise ValueError("no image files found (" + ", ".join(IMAGE_SUFFIXES) + ")")
    return files


def _score_row(
    index: int, path: Path, scores: Scores, result: Scored, maps: Path | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "path": str(path),
        "score": result.score,
        "p_value": result.p_value,
        "anomalous": result.anomalous,
        "threshold": scores.threshold,
        "fpr": scores.fpr,
    }
    row |= result.scores or {}
    if maps is not None and result.map is not None:
        maps.mkdir(parents=True, exist_ok=True)
        target = maps / f"{index:05d}-{path.stem}.map.png"  # numbered: names may repeat
        save(result.map[None], target)
        row["map"] = str(target)
    return row


def _score_output(rows: list[dict[str, Any]], args: argparse.Namespace, name: str) -> str:
    fmt = args.format or (args.output.suffix.lstrip(".").lower() if args.output else "table")
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"cannot write {args.output}: give .csv or .json, or --format")
    text = {"table": _table, "csv": _csv, "json": lambda r: json.dumps(r, indent=1)}[fmt](rows)
    flagged = sum(row["anomalous"] for row in rows)
    summary = f"{flagged} of {len(rows)} images anomalous by {name}, at fpr {rows[0]['fpr']:.4g}"
    if args.output is None:
        return f"{text}\n{summary}" if fmt == "table" else text
    args.output.write_text(text + "\n")
    return _wrote(args.output, summary)


def _table(rows: list[dict[str, Any]]) -> str:
    columns = [k for k in rows[0] if k not in ("threshold", "fpr", "map")]
    cells = [[_cell(row[k]) for k in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = [columns, *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().rstrip("\n")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "ANOMALOUS" if value else "normal"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class Progress:
    """A progress line on stderr, redrawn in place on a terminal (nothing elsewhere)."""

    def __init__(self, total: int, verb: str):
        self.total, self.verb, self.done = total, verb, 0
        self.shown = sys.stderr.isatty()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            print(file=sys.stderr)

    def advance(self, count: int) -> None:
        self.done += count
        if self.shown:
            percent = 100 * self.done // max(1, self.total)
            print(
                f"\r{self.verb} {self.done}/{self.total} images ({percent}%)",
                end="",
                file=sys.stderr,
            )


Run = Callable[[argparse.Namespace], str]
Arguments = Callable[[argparse.ArgumentParser], None]
CLIENT_COMMANDS: dict[str, tuple[str, Arguments, Run, str]] = {
    "models": ("list the server's models", models_arguments, run_models, "vae-serve models"),
    "encode": (
        "print the codes of images as JSON (z_mean, z_log_var)", encode_arguments, run_encode,
        "vae-serve encode -m fashion-vae-2d trouser.png",
    ),
    "decode": (
        "decode codes to an image (a grid for several)", decode_arguments, run_decode,
        "vae-serve decode -m fashion-vae-2d --z '[[0.5, -1.0]]' -o decoded.png",
    ),
    "sample": (
        "draw images from the model's prior into a grid", sample_arguments, run_sample,
        "vae-serve sample -m fashion-vae-32d -n 16 --seed 0 -o grid.png",
    ),
    "edit": (
        "add or subtract attributes: +Smiling -Eyeglasses=1.5", edit_arguments, run_edit,
        "vae-serve edit -m faces-vae-200d face.png +Smiling -Eyeglasses=1.5 -o edited.png",
    ),
    "interpolate": (
        "interpolate between two images: a GIF (.gif) or a PNG strip",
        interpolate_arguments,
        run_interpolate,
        "vae-serve interpolate -m fashion-vae-2d trouser.png boot.png --steps 12 -o frames.gif",
    ),
    "score": (
        "score images and folders for anomalies: a table, CSV or JSON", score_arguments,
        run_score, "vae-serve score -m fashion-vae-32d photos/ --fpr 0.01 --rank -o scores.csv",
    ),
}  # fmt: skip
