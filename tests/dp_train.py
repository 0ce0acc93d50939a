"""Run under msrun by the data-parallel tests: a training command on one rank, recording the
rank's own weights when training starts and ends (the command itself writes only rank 0's).

usage: python tests/dp_train.py DUMP_DIR fcn4|finetune [the command's arguments ...]
    fcn4:     python -m fcn4 ARGS      (e.g. train --features ...)
    finetune: python -m finetune ARGS
"""
import sys
from pathlib import Path

import numpy as np

from fcn4 import training


def _dump(trainer, name):
    values = {p.name: p.asnumpy() for p in trainer.model.get_parameters()}
    np.savez(Path(sys.argv[1]) / f"{name}-rank{trainer.world.rank}.npz", **values)


def _recording(fit):
    def recorded(self, *args, **kwargs):
        _dump(self, "initial")
        result = fit(self, *args, **kwargs)
        _dump(self, "final")
        return result
    return recorded


if __name__ == "__main__":
    training.Trainer.fit = _recording(training.Trainer.fit)
    if sys.argv[2] == "fcn4":
        from fcn4.cli import main
    else:
        from finetune.cli import main
    sys.exit(main(sys.argv[3:]))
