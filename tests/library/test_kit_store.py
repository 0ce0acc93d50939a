"""The fine-tuning kit's head mode takes its embeddings from a store `fcn4 embed --ray` wrote."""
import mindspore as ms
import pytest

import fcn4.inference.tagger
from fcn4 import FCN4, save_checkpoint
from fcn4.library.job import embed_library, tag_library
from fcn4.library.store import StoreError
from finetune import FinetuneConfig, run
from helpers import randomise, write_genre_folders

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.usefixtures("local_ray"),
              pytest.mark.hub("module")]  # the package's weights: exported and measured once a module  # Ray starts processes
WIDE = (1, 8, 16, 32, 64)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = write_genre_folders(tmp_path_factory.mktemp("folders"), ("classical", "metal"), 8)
    ms.set_seed(0)
    ckpt = save_checkpoint(randomise(FCN4(in_classes=WIDE, num_classes=50), seed=1),
                           tmp_path_factory.mktemp("weights") / "wide.ckpt")
    return root, str(ckpt)


def _config(root, ckpt, out, **changes):
    return FinetuneConfig(**{**dict(data_dir=str(root), dataset="folder", out=str(out), pretrained=ckpt, workers=0,
                                    batch_size=8, lr=1e-2, epochs=3, progress=False), **changes})


def test_head_mode_embeds_nothing_the_store_holds(corpus, tmp_path, monkeypatch):
    root, ckpt = corpus
    embed_library([root], tmp_path / "store", weights=ckpt)

    def no_embedding(*args, **kwargs):
        raise AssertionError("embedded a clip the store holds")

    monkeypatch.setattr(fcn4.inference.tagger.Tagger, "predict", no_embedding)
    lines = []
    result = run(_config(root, ckpt, tmp_path / "run", store=str(tmp_path / "store")), log=lines.append,
                 warn=lines.append)
    assert "embeddings: 16 clip(s) taken from the store" in " ".join(lines)
    assert result.metrics["support"] > 0


def test_a_store_of_other_weights_or_of_tags_is_refused_by_name(corpus, tmp_path):
    root, ckpt = corpus
    tag_library([root / "metal" / "metal0.wav"], tmp_path / "tags", weights=ckpt)  # a store of tags (one file will do)
    with pytest.raises(StoreError, match="it holds no embeddings.*fcn4 embed --ray"):
        run(_config(root, ckpt, tmp_path / "run", store=str(tmp_path / "tags")), log=print, warn=print)
    other = save_checkpoint(randomise(FCN4(in_classes=WIDE, num_classes=50), seed=2), tmp_path / "other.ckpt")
    with pytest.raises(StoreError, match=r"its weights have sha256 \w+, --pretrained .*other.ckpt has"):
        run(_config(root, str(other), tmp_path / "run2", store=str(tmp_path / "tags")), log=print, warn=print)
