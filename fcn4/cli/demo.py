"""``fcn4 demo``: one synthesised clip through the front end and FCN-4, with untrained weights."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from .common import non_negative_int, positive_float, seed

HELP = "run one synthesised clip through the front end and FCN-4"


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=positive_float, default=30.0, help="length of the clip (default 30)")
    parser.add_argument("--top-k", type=non_negative_int, default=5, help="tags to print (default 5)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the clip and the weights")


def run(args) -> int:
    import mindspore as ms

    from ..audio.frontend import DEFAULT_FRONT_END
    from ..audio.synth import synth_track, write_audio
    from ..model.labels import MTAT_TAGS, top_k
    from ..model.network import CARD_ARGUMENTS, FCN4

    start = time.perf_counter()
    ms.set_device("CPU")
    ms.set_seed(args.seed)
    DEFAULT_FRONT_END.warm_up()
    t_startup = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_audio(Path(tmp) / "synth_clip.wav", synth_track(args.seconds, 22050, seed=args.seed), 22050)
        t0 = time.perf_counter()
        melgram = DEFAULT_FRONT_END.clip(clip)
        t_front = time.perf_counter() - t0
    arguments = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in CARD_ARGUMENTS.items())
    print(f"FCN-4 built from the hub card's arguments: {arguments}")
    net = FCN4(**CARD_ARGUMENTS)
    net.set_train(False)
    print(f"parameters: {net.num_parameters():,}")
    print(f"start-up: MindSpore and the front end ready in {t_startup:.1f} s")
    print(f"input: a synthesised {args.seconds:g} s clip at 22.05 kHz (wav) -> melgram "
          f"{list(melgram.shape)} in {t_front * 1000:.0f} ms")
    x = ms.Tensor(melgram[None, None])
    t0 = time.perf_counter()
    embedding = net.forward_features(x)
    probabilities = net.forward_head(embedding).sigmoid().asnumpy()[0]
    t_net = time.perf_counter() - t0
    print(f"network input {list(x.shape)} -> embedding {list(embedding.shape)} -> output "
          f"{[1, probabilities.shape[0]]} in {t_net * 1000:.0f} ms ({net.macs() * 2 / 1e9:.1f} GFLOP)")
    print(f"top-{args.top_k} tags (UNTRAINED random weights, so these mean nothing yet):")
    for tag, p in top_k(probabilities, MTAT_TAGS, args.top_k):
        print(f"  {tag:<14} {p:.3f}")
    print(f"total time: {time.perf_counter() - start:.1f} s")
    return 0
