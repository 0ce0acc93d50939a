"""A training run's folder: its lock, its state file (checked field by field), its checkpoints' names.

::

    checkpoints/epoch-NNN.ckpt   the model's parameters, the optimizer's state and the epoch
    train_state.json             epochs done, history, best epoch; written after the checkpoint
"""
from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

from ..base.errors import FCN4Error, TrainingError
from ..base.files import folder_inside, refuse_link, remove_stray_temporaries
from ..base.locks import exclusive_folder
from .parallel import SINGLE, World

__all__ = ["TrainingError", "STATE_FILE", "CHECKPOINTS", "checkpoint_name", "hold_run_folder", "read_state"]

STATE_FILE = "train_state.json"
CHECKPOINTS = "checkpoints"


def checkpoint_name(epoch: int) -> str:
    return f"{CHECKPOINTS}/epoch-{epoch:03d}.ckpt"


@contextlib.contextmanager
def hold_run_folder(run_dir, world: World = SINGLE, what: str = "training run"):
    """Hold the run folder for a run: a second run into it is refused at once, naming this one.

    Under data parallelism rank 0 holds it (the other ranks only read it). Temporary files a
    killed run left there are removed first: nothing half-written is ever read.
    """
    if not world.main:
        yield
        return
    with exclusive_folder(run_dir, what):
        # run_dir is the user's choice; what is inside is this package's: a link there is refused.
        folder_inside(run_dir, CHECKPOINTS)
        refuse_link(Path(run_dir) / STATE_FILE, "the training state")
        for entry in (Path(run_dir) / CHECKPOINTS).iterdir():
            refuse_link(entry, "a checkpoint of the run")
        for folder in (Path(run_dir), Path(run_dir) / CHECKPOINTS):
            remove_stray_temporaries(folder)
        yield


def read_state(path) -> dict:
    """``train_state.json``, its shape checked: a :class:`TrainingError` names the file and the field at fault.

    A state names only checkpoints this trainer wrote under ``checkpoints/`` (never a path elsewhere).
    """
    path = Path(path)
    try:
        state = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{path} cannot be read ({exc}); start again in another --out") from exc
    shape = {"epoch": int, "checkpoint": str, "best_epoch": int, "best_checkpoint": str, "fingerprint": dict,
             "history": list}
    problems = [f"{key} (wants {kind.__name__})" for key, kind in shape.items()
                if not isinstance(state, dict) or not isinstance(state.get(key), kind) or isinstance(state.get(key), bool)]
    if not problems:
        epochs = [r.get("epoch") if isinstance(r, dict) else None for r in state["history"]]
        if epochs != list(range(1, state["epoch"] + 1)) or not 0 <= state["best_epoch"] <= state["epoch"]:
            problems.append("history (one record per finished epoch, in order)")
        elif not all(set(r) >= {"epoch", "train_loss", "valid", "seconds"} for r in state["history"]):
            problems.append("history (records lack epoch, train_loss, valid or seconds)")
        for key in ("checkpoint", "best_checkpoint"):
            if not re.fullmatch(rf"{CHECKPOINTS}/epoch-\d{{3,}}\.ckpt", state[key]):
                problems.append(f"{key} (a checkpoint of this run, {CHECKPOINTS}/epoch-NNN.ckpt)")
    if problems:
        raise TrainingError(f"{path} is not a training state this package wrote: wrong or missing "
                            f"{', '.join(problems)}; start again in another --out")
    return state
