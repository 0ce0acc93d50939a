"""One skeleton for every training run; a recipe is an adapter that fills in its steps.

:func:`run_training` owns what every run does the same way: the parallel world (msrun), the
run folder and its lock, the refusal to start over a finished run, the seed, the network's
start (described in the log), the resolved config written beside the results, the one
:class:`~fcn4.training.trainer.Trainer` (fit, resume, best epoch), and the barrier after which
the other ranks return. A :class:`RunAdapter` says what differs: which data it reads, how the
network is built, what trains on which batches, and what it writes at the end (checkpoint,
metrics, card). Two adapters exist: :mod:`fcn4.training.tagging` (``fcn4 train``, MagnaTagATune
features) and the fine-tuning kit (``python -m finetune``).

Configurations are frozen dataclasses with :class:`RunConfig`'s methods; a card is described
once, by :func:`card_metadata`, and written by :func:`fcn4.hub.publish.publish_card` or kept as
the metadata ``fcn4 card publish --metadata`` reads (:func:`write_card_metadata`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..base.errors import ConfigError, RunExistsError
from ..base.files import write_text_atomic
from .parallel import World, init_world
from .run_folder import STATE_FILE, hold_run_folder

__all__ = ["ConfigError", "RunExistsError", "RunConfig", "RunAdapter", "Plan", "TrainingRun", "run_training",
           "history", "card_metadata", "write_card_metadata", "publish_run_card"]

logger = logging.getLogger(__name__)


class RunConfig:
    """What every run's frozen configuration dataclass shares (mixed in; fields are the subclass's).

    ``FINGERPRINT`` names the fields a resumed run must share with the run it continues;
    ``RECORD_HEADER`` is the comment atop the ``config.yaml`` written into the run folder.
    """
    FINGERPRINT: ClassVar[tuple[str, ...]] = ()
    RECORD_HEADER: ClassVar[str] = "# resolved configuration of this run"
    TUPLES: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "settings"):
        """A config from a mapping (keys with ``-`` or ``_``); unknown keys are refused by name."""
        known = [f.name for f in dataclasses.fields(cls)]
        values = {str(k).replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        for name in cls.TUPLES:
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def to_yaml(self) -> str:
        import yaml

        return self.RECORD_HEADER + "\n" + yaml.safe_dump(self.to_dict(), sort_keys=False)

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues."""
        return {k: v for k, v in self.to_dict().items() if k in self.FINGERPRINT}


@dataclass
class Plan:
    """What an adapter hands the skeleton to train: the model cell, its batches per split, and
    the :class:`Trainer`'s recipe-specific arguments (``loss``, ``metrics``, ``amp_level`` ...)."""
    model: Any
    batches: dict
    labels: list
    fingerprint: dict
    trainer: dict = field(default_factory=dict)


@dataclass
class TrainingRun:
    """A run in progress: its config, world, messages (rank 0's), folder and timings."""
    config: Any
    world: World
    log: Callable[[str], None]
    warn: Callable[[str], None]
    timings: dict = field(default_factory=dict)
    began: float = field(default_factory=time.perf_counter)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    @contextlib.contextmanager
    def timed(self, name: str):
        """Record the seconds the block takes as ``timings[name]``."""
        mark = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - mark, 3)

    def write_json(self, name: str, value) -> Path:
        """Rank 0: ``value`` as ``run_dir/name``, written atomically."""
        path = self.run_dir / name
        if self.world.main:
            write_text_atomic(path, json.dumps(value, indent=1) + "\n")
        return path


class RunAdapter:
    """The steps of a recipe the skeleton calls, in order; see :func:`run_training`."""
    #: What the run folder's lock names a run of this recipe (``... is in use by another <what>``).
    what: str = "training run"

    def open(self, run: TrainingRun) -> None:
        """Read the data (and say what was read)."""

    def build(self, run: TrainingRun):
        """The network's start (:meth:`fcn4.hub.weights.WeightsSpec.build`); the seed is already set."""
        raise NotImplementedError

    def check(self, run: TrainingRun, start) -> None:
        """Refuse a start that does not fit the data (after the start is described)."""

    def plan(self, run: TrainingRun, start) -> Plan:
        """What trains on which batches."""
        raise NotImplementedError

    def finish(self, run: TrainingRun, trainer, result, start):
        """After training, the best epoch loaded: write the outputs; returns the run's result."""
        raise NotImplementedError


def run_training(config, adapter: RunAdapter, *, log: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None):
    """Run ``adapter``'s recipe as ``config`` says (data-parallel when launched by msrun).

    ``log`` and ``warn`` receive rank 0's messages (default: this module's logger). The run
    folder is held while this runs: a second run into it is refused at once.
    """
    world = init_world(config.device)
    with hold_run_folder(config.run_dir, world, adapter.what):
        run = TrainingRun(config, world, world.on_main(log or logger.info), world.on_main(warn or logger.warning))
        return _run(run, adapter)


def _run(run: TrainingRun, adapter: RunAdapter):
    import mindspore as ms

    from .trainer import Trainer

    config = run.config
    if not config.resume and (run.run_dir / STATE_FILE).exists():
        raise RunExistsError(f"{run.run_dir} already holds a run; pass --resume to continue it or --out for a new one")
    adapter.open(run)
    ms.set_seed(config.seed)  # the same seed on every rank: the same initial weights everywhere
    start = adapter.build(run)
    (run.log if start.pretrained else run.warn)(start.describe())
    adapter.check(run, start)
    if run.world.main:
        write_text_atomic(run.run_dir / "config.yaml", config.to_yaml())
    plan = adapter.plan(run, start)
    trainer = Trainer(plan.model, labels=plan.labels, run_dir=run.run_dir, lr=config.lr,
                      **{"select": config.select, "progress": config.progress, "log": run.log, "world": run.world,
                         **plan.trainer})
    with run.timed("training_s"):
        result = trainer.fit(plan.batches["train"], plan.batches["valid"], config.epochs, resume=config.resume,
                             fingerprint={**config.fingerprint(), **plan.fingerprint})
    trainer.load(result.best_checkpoint, optimizer=False)
    outcome = adapter.finish(run, trainer, result, start)
    run.world.barrier()  # the other ranks return once the run folder is complete
    return outcome


def history(result, *keys: str) -> list[dict]:
    """``metrics.json``'s history: per epoch, its train loss, valid loss, the valid ``keys`` and seconds."""
    return [{"epoch": r.epoch, "train_loss": r.train_loss, "valid_loss": r.valid["loss"],
             **{f"valid_{k}": r.valid.get(k) for k in keys}, "seconds": r.seconds} for r in result.history]


# ------------------------------------------------------------------------------------ the card
#: What a run's ``card.yaml`` keeps of its :class:`~fcn4.hub.publish.CardMetadata`.
_CARD_YAML_FIELDS = ("name", "version", "dataset", "asset_link", "user_id", "author", "labels", "arguments",
                     "front_end", "metrics", "summary")


def card_metadata(*, name: str, dataset: str, net, labels, front_end, metrics: Mapping, summary: str,
                  version: str = "1.0", asset_link: str | None = None, user_id: str = "local",
                  author: str = "fcn4-train", thresholds: Mapping | None = None, threshold_policy: str | None = None):
    """The one description of a trained run's card (:class:`~fcn4.hub.publish.CardMetadata`)."""
    from ..hub.publish import CardMetadata

    return CardMetadata(name=name, version=version, dataset=dataset,
                        asset_link=asset_link or f"https://example.invalid/fcn4/{name}.ckpt", user_id=user_id,
                        author=author, labels=list(labels), metrics=dict(metrics), arguments=net.arguments(),
                        front_end=front_end, summary=summary, thresholds=thresholds, threshold_policy=threshold_policy)


def write_card_metadata(meta, path) -> Path:
    """``meta`` as the YAML ``python -m fcn4 card publish <checkpoint> --metadata FILE`` reads."""
    import yaml

    values = {}
    for key in _CARD_YAML_FIELDS:
        value = getattr(meta, key)
        values[key] = (dataclasses.asdict(value) if dataclasses.is_dataclass(value)
                       else dict(value) if isinstance(value, Mapping) else list(value) if isinstance(value, (list, tuple))
                       else value)
    return write_text_atomic(path, "# metadata for: python -m fcn4 card publish <checkpoint> --metadata THIS_FILE "
                                   "(set asset_link to where the checkpoint will be hosted)\n"
                             + yaml.safe_dump(values, sort_keys=False))


def publish_run_card(checkpoint, meta, run_dir, *, assets: bool = False) -> tuple[Path, str]:
    """Publish ``meta``'s card into the run folder (and, with ``assets``, into the hub's layout)."""
    from ..hub.publish import publish_card

    published = publish_card(checkpoint, meta, out=Path(run_dir) / f"{meta.name}.md", overwrite=True)
    if assets:
        published = publish_card(checkpoint, meta)
    return published.path, published.uid
