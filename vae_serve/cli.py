"""vae-serve: one command for the service, the training command line and the Python client.

    vae-serve serve --model-dir models            # the service (same flags as python -m service)
    vae-serve train --name my-vae --epochs 10     # training (needs the training extra)
    vae-serve models                              # a running server, at --url
    vae-serve sample -m fashion-vae-2d -n 16 -o grid.png

Client commands talk to --url (default $VAE_SERVE_URL, else http://127.0.0.1:8000) with --api-key
(default $VAE_SERVE_API_KEY). An error is one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from vae_client import VaeServeError
from vae_serve import commands

PROG = "vae-serve"
DEFAULT_URL = "http://127.0.0.1:8000"
# The training command line's subcommands, passed to training.cli as they are.
TRAINING = {
    "train": "train an AE or VAE, then export its bundle",
    "export": "export a checkpoint as a bundle",
    "calibrate": "score bundles' validation images for anomaly p-values, and evaluate",
    "evaluate": "measure a bundle on its test set against what it records",
    "samplers": "fit a bundle's samplers to its training codes, measure and record them",
    "map": "add (or rebuild) bundles' latent maps from their test sets",
    "report": "write a bundle's figures (PNG)",
    "classifier": "train the feature network that evaluation uses",
    "quantize": "write a bundle's int8 graphs, each only if it passes the quality gate",
    "faces": "generate a CelebA-format dataset of drawn faces",
}
# What the training extra brings: without it, a training command cannot run.
TRAINING_EXTRA = ("torch", "onnx", "tqdm", "matplotlib")
EXAMPLES = """examples:
  vae-serve serve --model-dir models --port 8000
  vae-serve models
  vae-serve encode -m fashion-vae-2d trouser.png boot.png
  vae-serve decode -m fashion-vae-2d --z '[[0.5, -1.0]]' -o decoded.png
  vae-serve sample -m fashion-vae-32d -n 16 --seed 0 -o grid.png
  vae-serve edit -m faces-vae-200d face.png +Smiling -Eyeglasses=1.5 -o edited.png
  vae-serve interpolate -m fashion-vae-2d trouser.png boot.png --steps 12 -o interpolate.gif
  vae-serve score -m fashion-vae-32d photos/ --fpr 0.01 --rank -o scores.csv
  vae-serve train --name my-vae --model vae --latent-dim 16 --epochs 10
  vae-serve calibrate models/my-vae
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "serve":
        return _serve(args[1:])
    if args and args[0] in TRAINING:
        return _train(args)
    return _client(args)


def _serve(argv: list[str]) -> int:
    from service.__main__ import main as serve

    serve(argv)
    return 0


def _train(argv: list[str]) -> int:
    try:
        from training.cli import main as train

        return train(argv)
    except ModuleNotFoundError as missing:  # at import, or when the command loads torch
        if (missing.name or "").split(".")[0] not in TRAINING_EXTRA:
            raise
        return _fail(
            f"`{argv[0]}` needs the training extra, which is not installed (no {missing.name}): "
            "pip install 'vae-serve[train]'"
        )


def _client(argv: list[str]) -> int:
    parser = build_parser()
    edits, rest = commands.split_edits(argv) if argv[:1] == ["edit"] else ([], argv)
    args = parser.parse_args(rest)
    run: Callable[[argparse.Namespace], str | None] = args.run
    args.edits = edits
    try:
        output = run(args)
    except VaeServeError as error:
        return _fail(str(error))
    except (OSError, ValueError, TypeError) as error:  # a file that cannot be read or written
        return _fail(
            f"{type(error).__name__}: {error}" if isinstance(error, OSError) else str(error)
        )
    if output is not None:
        print(output)
    return 0


def _fail(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="serve the bundles over HTTP (flags: vae-serve serve --help)")
    for name, text in TRAINING.items():
        sub.add_parser(name, help=f"{text} (training extra; vae-serve {name} --help)")
    server = _server_options()
    for name, (text, add_arguments, run, examples) in commands.CLIENT_COMMANDS.items():
        command = sub.add_parser(
            name,
            help=text,
            description=text,
            parents=[server],
            epilog=f"example:\n  {examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def _server_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("server")
    group.add_argument(
        "--url",
        default=os.environ.get("VAE_SERVE_URL", DEFAULT_URL),
        help="the server (default $VAE_SERVE_URL, else %(default)s)",
    )
    group.add_argument(
        "--api-key",
        default=os.environ.get("VAE_SERVE_API_KEY"),
        help="sent as X-API-Key (default $VAE_SERVE_API_KEY)",
    )
    group.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    return options
