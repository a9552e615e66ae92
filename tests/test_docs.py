"""The docs cannot drift from the code: every `python train.py ...` line in a fenced block of README.md and docs/
composes with Hydra and passes the schema (without training), every `python scripts/<x>.py --flag` names a script
and flags that exist, and every relative link and image of a page points at a file of the repository."""
import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from reslab.config import validate
from reslab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(?:bash|sh|console)?\n(.*?)```", re.S)
# What a documented command may meet on a machine without that data set or run folder: the schema accepted the
# values, and the check of the files on disk (which runs after it) asks for them.
ENVIRONMENT = ("no data at", "has no train/ folder", "is not a resumable run folder", "does not exist",
               "is not a run folder", "has no .hydra")


def commands(prefix: str) -> list[tuple[str, str]]:
    """(page name, command) for every line of a fenced block that starts with `prefix`; comments dropped."""
    found = []
    for page in PAGES:
        for block in FENCE.findall(page.read_text()):
            for line in block.splitlines():
                line = line.strip()
                if line.startswith(prefix):
                    words = shlex.split(line, comments=True)
                    ends = [i for i, w in enumerate(words) if w in ("&&", "||", ";", "|")]
                    words = words[:ends[0]] if ends else words  # the first command of a chain
                    found.append((page.name, " ".join(shlex.quote(w) for w in words)))
    return found


def first_of_sweeps(overrides: list[str]) -> list[str]:
    """A sweep's overrides (`a=1,2`, `a=range(1,3)`) with the first value of each sweep: one job to compose."""
    parser = OverridesParser.create()
    single = []
    for override in parser.parse_overrides(overrides):
        if override.is_sweep_override():
            value = next(iter(override.sweep_string_iterator()))
            single.append(f"{override.get_key_element()}={value}")
        else:
            single.append(override.input_line)
    return single


TRAIN = commands("python train.py")
SCRIPTS = commands("python scripts/")


def test_the_docs_show_commands():
    assert len(TRAIN) >= 20 and len(SCRIPTS) >= 8, (len(TRAIN), len(SCRIPTS))


@pytest.mark.parametrize("page,line", TRAIN, ids=[f"{p}:{c[16:60]}" for p, c in TRAIN])
def test_documented_train_command_composes_and_validates(page, line):
    words = shlex.split(line)[2:]
    if any(w.startswith("--") and w not in ("-m", "--multirun") for w in words):  # --cfg job, --help: Hydra's own
        assert all(w in ("--cfg", "job", "--help", "-m", "--multirun") or "=" in w for w in words), line
        return
    overrides = first_of_sweeps([w for w in words if w not in ("-m", "--multirun")])
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    try:
        validate(cfg)
    except ConfigError as error:
        assert any(text in str(error) for text in ENVIRONMENT), f"{page}: `{line}`: {error}"


@pytest.mark.parametrize("page,line", SCRIPTS, ids=[f"{p}:{c[8:60]}" for p, c in SCRIPTS])
def test_documented_script_and_flags_exist(page, line):
    words = shlex.split(line)
    script = ROOT / words[1]
    assert script.is_file(), f"{page}: `{line}`: no {words[1]}"
    source = script.read_text()
    for flag in (w.split("=", 1)[0] for w in words[2:] if w.startswith("--")):
        assert f'"{flag}"' in source or f"'{flag}'" in source, f"{page}: `{line}`: {words[1]} has no {flag}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_links_and_images_point_at_files(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        assert (page.parent / target.split("#")[0]).exists(), f"{page.name}: link to missing {target}"
