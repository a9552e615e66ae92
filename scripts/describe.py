"""Print what a model costs: parameters, forward FLOPs per sample and each stage's output shape.

    python scripts/describe.py model=csp depth=50
    python scripts/describe.py depth=56 --input 3,32,32 --classes 10 --all   # the four block types side by side

Positional arguments are Hydra overrides of conf/train.yaml (only model, depth and width matter here).
"""
import argparse
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from reslab.errors import ConfigError
from reslab.models.layout import BLOCK_TYPES

CONF = Path(__file__).resolve().parents[1] / "conf"


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def _one_line(error: Exception) -> str:
    """Hydra's message without its config search path, on one line."""
    text = str(error).split("Config search path")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _si(count: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.2f}{unit}"
    return str(count)


def table(columns: dict[str, dict]) -> str:
    """Rows params / FLOPs / stage shapes, one column per described model."""
    first = next(iter(columns.values()))
    rows = [("params", [f"{d['params']:,}" for d in columns.values()]),
            ("FLOPs", [_si(d["flops"]) for d in columns.values()])]
    for i, (name, _) in enumerate(first["stages"]):
        rows.append((name, ["x".join(map(str, d["stages"][i][1])) for d in columns.values()]))
    header = ("", *columns)
    lines = [header, *((name, *cells) for name, cells in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=csp depth=50 width=32")
    parser.add_argument("--all", action="store_true", help="describe every block type side by side")
    parser.add_argument("--input", type=_shape, default=(3, 224, 224), help="C,H,W for images or F for vectors")
    parser.add_argument("--classes", type=int, default=1000, help="number of classes")
    args = parser.parse_intermixed_args()

    import torch

    from reslab.models.describe import describe
    from reslab.models.network import build_model

    if args.all:
        rest = [o for o in args.overrides if not o.startswith("model=")]
        runs = {block: [*rest, f"model={block}"] for block in BLOCK_TYPES}
    else:
        runs = {None: args.overrides}
    columns = {}
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"), torch.device("meta"):
        for block, overrides in runs.items():
            try:
                cfg = compose(config_name="train", overrides=overrides)
                model = build_model(**cfg.model, depth=cfg.depth, width=cfg.width, input_shape=args.input,
                                    num_classes=args.classes)
            except (ConfigError, HydraException) as error:
                raise SystemExit(f"error: {_one_line(error)}") from None
            columns[block or cfg.model.block] = describe(model, args.input)
    print(f"depth={cfg.depth} width={cfg.width or 'default'} input={'x'.join(map(str, args.input))} "
          f"classes={args.classes}")
    print(table(columns))


if __name__ == "__main__":
    main()
