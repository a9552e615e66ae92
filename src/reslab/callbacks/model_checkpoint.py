"""Lightning's ModelCheckpoint, restorable from a moved or copied run folder, and from another run's checkpoint."""
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint as LightningModelCheckpoint

PATHS = ("best_model_path", "kth_best_model_path", "last_model_path")


def _moved(path: str, old: str, new: str) -> str:
    return str(Path(new) / Path(path).relative_to(old)) if path and Path(path).is_relative_to(old) else path


class ModelCheckpoint(LightningModelCheckpoint):
    """Lightning's ModelCheckpoint (same arguments). Its saved state holds absolute paths; Lightning drops the best
    score when the folder has moved, so a resumed copy could overwrite best.ckpt with a worse epoch and test a
    file of the old folder. Here the saved paths are re-rooted at the folder this run writes to. A state whose
    files are not in this folder comes from another run (a new run started with `ckpt_path=`, fine-tuning): it
    is not restored, so the new run keeps its own best checkpoint from its own epochs."""

    def load_state_dict(self, state_dict: dict) -> None:
        old, new = state_dict.get("dirpath"), self.dirpath
        if old and new and old != new:
            state_dict = {**state_dict, "dirpath": new,
                          **{key: _moved(state_dict.get(key, ""), old, new) for key in PATHS},
                          "best_k_models": {_moved(p, old, new): v
                                            for p, v in (state_dict.get("best_k_models") or {}).items()}}
            if not any(Path(state_dict[key]).is_file() for key in PATHS if state_dict[key]):
                return  # another run's checkpoint: its best is a reference, not a file of this folder
        super().load_state_dict(state_dict)
