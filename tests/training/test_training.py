"""The one trainer: what a compiled step sees after parameters are loaded or averaged."""
import numpy as np
import pytest

from fcn4 import FCN4
from fcn4.model.checkpoint import assign
from fcn4.training.trainer import ArrayBatches, LogitsOf, Trainer, TrainingError
from helpers import SMALL

LABELS = [f"tag{i}" for i in range(4)]


def _trainer(tmp_path, net, **kwargs):
    return Trainer(LogitsOf(net), labels=LABELS, run_dir=tmp_path, log=lambda line: None, progress=False, **kwargs)


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(-20, 10, (n, 1, 96, 200)).astype(np.float32), rng.integers(0, len(LABELS), n)


@pytest.mark.slow
def test_the_best_epoch_loaded_after_training_is_the_one_evaluated(tmp_path):
    """The compiled evaluation graph must read the weights loaded into the network afterwards."""
    calls = []

    def first_is_best(y, probabilities, loss):
        calls.append(loss)
        return {"loss": loss, "score": 1.0 if len(calls) == 1 else 0.0}

    x, y = _data()
    trainer = _trainer(tmp_path, FCN4(**SMALL, num_classes=4), lr=0.05, metrics=first_is_best, select="score")
    result = trainer.fit(ArrayBatches(x, y, 4), ArrayBatches(x, y, 4), epochs=3)
    assert result.best_epoch == 1
    losses = [r.valid["loss"] for r in result.history]
    assert abs(losses[0] - losses[-1]) > 1e-4  # the weights moved: the test can tell epochs apart

    trainer.load(result.best_checkpoint, optimizer=False)
    assert trainer.evaluate(ArrayBatches(x, y, 4))["loss"] == pytest.approx(losses[0], abs=1e-6)


@pytest.mark.slow
def test_a_compiled_step_keeps_updating_parameters_assigned_after_it_compiled(tmp_path):
    x, y = _data(4)
    nets = [FCN4(**SMALL, num_classes=4) for _ in range(2)]
    for name, param in nets[1].parameters_dict().items():
        assign(param, nets[0].parameters_dict()[name])
    stats = np.linspace(-1, 1, nets[0].bn1.moving_mean.shape[0]).astype(np.float32)
    first = _trainer(tmp_path / "a", nets[0], lr=1e-3)
    nets[0].set_train(True)
    first.step(x, y)  # compiles the step
    for name, param in nets[0].parameters_dict().items():  # as a resume or a rank average would
        assign(nets[1].parameters_dict()[name], param)
    assign(nets[0].bn1.moving_mean, stats)
    assign(nets[1].bn1.moving_mean, stats)
    second = _trainer(tmp_path / "b", nets[1], lr=1e-3)
    nets[1].set_train(True)
    first.step(x, y)
    second.step(x, y)  # a fresh graph, compiled with the assigned values
    after = nets[0].bn1.moving_mean.asnumpy()
    assert not np.allclose(after, stats)
    np.testing.assert_allclose(after, nets[1].bn1.moving_mean.asnumpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("state, field", [
    ("[]", "epoch"),
    ('{"epoch": 1}', "checkpoint"),
    ('{"epoch": 2, "checkpoint": "checkpoints/epoch-002.ckpt", "best_epoch": 1, "best_checkpoint": '
     '"checkpoints/epoch-001.ckpt", "fingerprint": {}, "history": []}', "history"),
    ('{"epoch": 1, "checkpoint": "../../elsewhere.ckpt", "best_epoch": 1, "best_checkpoint": '
     '"checkpoints/epoch-001.ckpt", "fingerprint": {}, "history": [{"epoch": 1, "train_loss": 1, "valid": {}, '
     '"seconds": 1}]}', "checkpoint"),
    ("not json", "cannot be read"),
])
def test_a_damaged_train_state_is_refused_naming_the_file_and_field(tmp_path, state, field):
    from fcn4.training.trainer import read_state

    path = tmp_path / "train_state.json"
    path.write_text(state)
    with pytest.raises(TrainingError, match=rf"{path}.*{field}"):
        read_state(path)


def test_a_run_folder_is_held_and_cleared_of_a_killed_runs_temporaries(tmp_path):
    from fcn4.base.locks import FolderBusy
    from fcn4.training.trainer import hold_run_folder

    torn = tmp_path / "checkpoints" / f".epoch-002.ckpt.{'b' * 32}.tmp.ckpt"
    torn.parent.mkdir(parents=True)
    torn.write_bytes(b"half a checkpoint")
    with hold_run_folder(tmp_path):
        assert not torn.exists()
        with pytest.raises(FolderBusy, match="in use by another training run"):
            with hold_run_folder(tmp_path):
                pass


@pytest.mark.parametrize("labels", [["a", "b", "c"], [f"a rather long genre name {i}" for i in range(12)]])
def test_the_confusion_figure_keeps_its_title_labels_and_colour_bar_inside(labels):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    from fcn4.training.metrics import confusion_figure

    n = len(labels)
    figure = confusion_figure(np.eye(n, dtype=int) * 5, labels, "fcn4_folder_full_v1.0: test set (12 clips)")
    FigureCanvasAgg(figure).draw()  # as save_confusion_png renders it
    box = figure.bbox
    texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert any("share of the true class" in t.get_text() for t in texts)
    for text in texts:
        extent = text.get_window_extent()
        assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1 and box.y0 - 1 <= extent.y0 \
            and extent.y1 <= box.y1 + 1, text.get_text()
