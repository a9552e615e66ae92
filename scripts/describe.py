"""Print what a model costs: parameters, forward FLOPs per sample and each stage's output shape.

    python scripts/describe.py model=csp depth=50
    python scripts/describe.py depth=56 --input 3,32,32 --classes 10 --all   # every design, one row each

Positional arguments are Hydra overrides of conf/train.yaml (only model, depth and width matter here). `--all`
lists every design: each block type and preset of conf/model/, then each value of the shortcut-design options
(shortcut_op, order, norm, init, drop_path) on plain blocks, with the other overrides applied to all.
"""
import argparse
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from reslab.config.model import check_model
from reslab.errors import UserError
from reslab.models.options import BLOCK_TYPES, NORMS, ORDERS, SHORTCUT_OPS

CONF = Path(__file__).resolve().parents[1] / "conf"


def designs() -> dict[str, list[str]]:
    """Every design reslab builds: name -> the overrides that select it."""
    presets = sorted(p.stem for p in (CONF / "model").glob("*.yaml") if p.stem not in BLOCK_TYPES)
    rows = {name: [f"model={name}"] for name in (*BLOCK_TYPES, *presets)}
    rows |= {f"shortcut_op={op}": [f"model.shortcut_op={op}"] for op in SHORTCUT_OPS if op != "identity"}
    rows |= {f"order={order}": [f"model.order={order}"] for order in ORDERS if order != "post"}
    rows |= {f"norm={norm}": [f"model.norm={norm}"] for norm in NORMS if norm != "batch"}
    rows["noshortcut init=dirac"] = ["model=noshortcut", "model.init=dirac"]
    rows["drop_path=0.5"] = ["model.drop_path=0.5"]
    return rows


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


def design_table(rows: dict[str, tuple[str, dict]]) -> str:
    """One row per design: name, its overrides, params, FLOPs."""
    lines = [("design", "config", "params", "FLOPs")]
    lines += [(name, config, f"{d['params']:,}", _si(d["flops"])) for name, (config, d) in rows.items()]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(line, widths))).rstrip() for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=csp depth=50 width=32")
    parser.add_argument("--all", action="store_true", help="list every design with its params and FLOPs")
    parser.add_argument("--input", type=_shape, default=(3, 224, 224), help="C,H,W for images or F for vectors")
    parser.add_argument("--classes", type=int, default=1000, help="number of classes")
    args = parser.parse_intermixed_args()

    import torch

    from reslab.models.describe import describe
    from reslab.models.network import build_model

    if args.all:
        rest = [o for o in args.overrides if not o.startswith("model=")]
        runs = {name: [*rest, *selected] for name, selected in designs().items()}
    else:
        runs = {None: args.overrides}
    columns = {}
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"), torch.device("meta"):
        for name, overrides in runs.items():
            try:
                cfg = compose(config_name="train", overrides=overrides)
                check_model(**cfg.model, depth=cfg.depth, width=cfg.width, input_shape=args.input)
                model = build_model(**cfg.model, depth=cfg.depth, width=cfg.width, input_shape=args.input,
                                    num_classes=args.classes)
            except (UserError, HydraException) as error:
                print(f"error: {name or ''}: {_one_line(error)}".replace("error: : ", "error: "), file=sys.stderr)
                sys.exit(2)
            columns[name or cfg.model.block] = describe(model, args.input)
    print(f"depth={cfg.depth} width={cfg.width or 'default'} input={'x'.join(map(str, args.input))} "
          f"classes={args.classes}")
    if args.all:
        print(design_table({name: (" ".join(designs()[name]), d) for name, d in columns.items()}))
    else:
        print(table(columns))


if __name__ == "__main__":
    main()
