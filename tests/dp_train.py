"""Run under msrun by tests/test_mtat.py: ``python -m fcn4 train`` on one rank, recording the
rank's own weights before and after training (the command itself writes only rank 0's).

usage: python tests/dp_train.py DUMP_DIR [fcn4 train arguments ...]
"""
import sys
from pathlib import Path

import numpy as np

from fcn4 import training
from fcn4.cli import main


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
    sys.exit(main(["train", *sys.argv[2:]]))
