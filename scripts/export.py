"""Write a trained network next to its checkpoint for use outside reslab.

    python scripts/export.py outputs/2025-01-01/12-00-00 --format onnx          # classifier: onnx | torchscript
    python scripts/export.py outputs/2025-01-01/12-00-00 --format torchscript   # detector: torchscript

The run folder's best checkpoint (else its last) is rebuilt from `.hydra/config.yaml`; the file lands beside it
(`checkpoints/best.onnx`, `checkpoints/best.torchscript.pt`). ONNX needs `pip install 'reslab[export]'`.
"""
import argparse
import sys
from pathlib import Path

from reslab.errors import UserError
from reslab.export import FORMATS, export


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="folder of a `python train.py` run")
    parser.add_argument("--format", choices=FORMATS, default="torchscript", help="default torchscript")
    args = parser.parse_args(argv)
    try:
        path = export(args.run, args.format)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
