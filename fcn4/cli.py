"""Command line: ``python -m fcn4 {demo,info,tag,embed,fetch,card,prepare,train,evaluate,export}``
(also installed as ``fcn4``)."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

__all__ = ["main"]


def _demo(args) -> int:
    """File -> front end -> FCN-4 on one synthesised clip, with untrained weights."""
    import mindspore as ms

    from . import CARD_ARGUMENTS, DEFAULT_FRONT_END, FCN4, MTAT_TAGS, top_k
    from .synth import synth_track, write_audio

    start = time.perf_counter()
    ms.set_device("CPU")
    ms.set_seed(args.seed)
    DEFAULT_FRONT_END.warm_up()
    t_startup = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_audio(Path(tmp) / "synth_clip.wav",
                           synth_track(args.seconds, 22050, seed=args.seed), 22050)
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
          f"{[1, probabilities.shape[0]]} in {t_net * 1000:.0f} ms "
          f"({net.macs() * 2 / 1e9:.1f} GFLOP)")
    print(f"top-{args.top_k} tags (UNTRAINED random weights, so these mean nothing yet):")
    for tag, p in top_k(probabilities, MTAT_TAGS, args.top_k):
        print(f"  {tag:<14} {p:.3f}")
    print(f"total time: {time.perf_counter() - start:.1f} s")
    return 0


def _info(args) -> int:
    """Layer shapes, parameters and cost of FCN-4 for an input of ``--frames`` frames."""
    from . import CARD_ARGUMENTS, DEFAULT_FRONT_END, FCN4

    net = FCN4(**CARD_ARGUMENTS, num_classes=args.num_classes)
    frames = args.frames or DEFAULT_FRONT_END.n_frames
    print(f"{'layer':<12} output shape")
    print(f"{'input':<12} {(net.in_classes[0], DEFAULT_FRONT_END.n_mels, frames)}")
    for layer, shape in net.feature_shapes(DEFAULT_FRONT_END.n_mels, frames):
        print(f"{layer:<12} {shape}")
    print(f"parameters: {net.num_parameters():,}")
    print(f"forward cost: {net.macs(DEFAULT_FRONT_END.n_mels, frames) / 1e9:.2f} G multiply-adds per clip")
    print(f"shortest input: {net.min_input_size[1]} frames "
          f"({DEFAULT_FRONT_END.seconds_for(net.min_input_size[1]):.2f} s of audio)")
    return 0


def _tagger(args):
    from .tagger import Tagger

    return Tagger(args.weights, backend=args.backend, batch_size=args.batch_size, workers=args.workers,
                  threads=args.threads, labels=args.labels)


def _predict_options(args) -> dict:
    return {"window": args.window, "hop_seconds": args.hop, "aggregate": args.aggregate,
            "min_seconds": args.min_seconds, "progress": args.progress}


@contextlib.contextmanager
def _output(path):
    """stdout, or a file that replaces ``path`` only once complete."""
    if path is None:
        yield sys.stdout
        return
    from ._atomic import temporary_beside

    with temporary_beside(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, path)


def _report_failure(command: str, prediction) -> None:
    from tqdm import tqdm

    tqdm.write(f"fcn4 {command}: skipped {prediction.path}: {prediction.error}", file=sys.stderr)


def _tag(args) -> int:
    from .reports import TagWriter

    start = time.perf_counter()
    with _tagger(args) as tagger:
        header = {"weights": tagger.weights, "backend": tagger.backend.name, "window": args.window,
                  "hop_seconds": args.hop, "aggregate": args.aggregate}
        with _output(args.output) as handle:
            writer = TagWriter(handle, args.format, tagger.labels, header, top_k=args.top_k,
                               threshold=args.threshold, per_window=args.window == "track")
            for prediction in tagger.predict(args.paths, embeddings=False, **_predict_options(args)):
                if not prediction.ok:
                    _report_failure("tag", prediction)
                writer.write(prediction)
            counts = writer.close()
    where = f", written to {args.output}" if args.output else ""
    print(f"fcn4 tag: {counts['files']} file(s): {counts['tagged']} tagged, {counts['failed']} failed{where} "
          f"({time.perf_counter() - start:.1f} s, {tagger.backend.name} backend)", file=sys.stderr)
    return 1 if counts["failed"] else 0


def _embed(args) -> int:
    if not args.output.endswith(".npz"):
        raise ValueError(f"--output '{args.output}': embeddings are written as .npz; name the file FILE.npz")
    start = time.perf_counter()
    with _tagger(args) as tagger:
        embeddings = tagger.embed(args.paths, **_predict_options(args))
    for path, reason in embeddings.failures:
        print(f"fcn4 embed: skipped {path}: {reason}", file=sys.stderr)
    embeddings.save(args.output)
    print(f"fcn4 embed: {len(embeddings.paths)} embedding(s) of {embeddings.vectors.shape[1]} values "
          f"({args.window}) written to {args.output}; {len(embeddings.failures)} file(s) failed "
          f"({time.perf_counter() - start:.1f} s, {tagger.backend.name} backend)", file=sys.stderr)
    return 1 if embeddings.failures else 0


def _fetch(args) -> int:
    """Download (or find) a card's checkpoint, verify it, and print its path."""
    from .weights import fetch

    print(fetch(args.name, force_reload=args.force_reload, offline=args.offline or None))
    return 0


def _card_validate(args) -> int:
    from .cards import check_cards
    from .weights import REPO_ASSETS

    results = check_cards(args.paths or [REPO_ASSETS], strict=args.strict)
    bad = 0
    for path, problems in results.items():
        print(f"{path}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  - {problem.field}: {problem.message}")
        bad += bool(problems)
    mode = "strict hub rules" if args.strict else "hub rules (datasets off the hub's list accepted; --strict to refuse)"
    print(f"{len(results)} card(s) checked by {mode}: {len(results) - bad} valid, {bad} invalid")
    return 1 if bad or not results else 0


def _card_show(args) -> int:
    from .weights import resolve

    spec = resolve(args.name)
    print(f"uid:           {spec.uid}\ncard:          {spec.card_path}\nmodel-name:    {spec.model_name}")
    print(f"checkpoint:    {spec.url}\nsha256:        {spec.sha256}\ncached at:     {spec.cache_path}")
    print(f"dataset:       {spec.dataset}\nnetwork:       {dict(spec.network_arguments())}")
    print(f"front end:     {spec.front_end}")
    labels = spec.labels or ()
    print(f"labels ({len(labels)}): {', '.join(labels)}")
    if spec.metrics:
        print(f"metrics:       {dict(spec.metrics)}")
    return 0


def _card_sha256(args) -> int:
    from .download import sha256_file

    for path in args.files:
        print(f"{sha256_file(path)}  {path}")
    return 0


def _card_publish(args) -> int:
    from .labels import labels_from
    from .publish import CardMetadata, publish_card
    from .weights import REPO_ASSETS

    values = {}
    if args.metadata:
        import yaml

        with open(args.metadata, encoding="utf-8") as handle:
            values.update(yaml.safe_load(handle) or {})
    for name in ("name", "version", "dataset", "asset_link", "user_id", "author", "license", "backend",
                 "mindspore_version", "summary", "repo_link"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    if args.labels:
        values["labels"] = labels_from(args.labels)
    metrics = dict(values.get("metrics") or {})
    for item in args.metric:
        key, _, value = item.partition("=")
        metrics[key.strip()] = float(value)
    values["metrics"] = metrics
    if args.in_classes:
        values.setdefault("arguments", {})["in_classes"] = [int(x) for x in args.in_classes.split(",")]
    published = publish_card(args.checkpoint, CardMetadata.from_mapping(values), root=args.root or REPO_ASSETS,
                             out=args.out, overwrite=args.overwrite, strict=args.strict, install=not args.no_install)
    print(f"card:       {published.path}\nuid:        {published.uid}\nsha256:     {published.sha256}")
    if published.cached_checkpoint:
        print(f"checkpoint: {published.cached_checkpoint} (cached: the card loads offline)")
    print("next: host the checkpoint at the card's asset-link, then propose the card to the hub repository")
    return 0


def _log(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _warn(line: str) -> None:
    _log(f"warning: {line}")


def _prepare(args) -> int:
    from .prepare import PrepareConfig, prepare

    config = PrepareConfig(data_dir=args.data_dir, out=args.out, dataset=args.dataset, split=args.split,
                           seed=args.seed, workers=args.workers, shard_size=args.shard_size,
                           min_seconds=args.min_seconds, progress=args.progress)
    prepare(config, log=_log, warn=_warn)
    return 0


def _train(args) -> int:
    from .recipe import TrainConfig, train

    config = TrainConfig(features=args.features, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         pretrained=args.pretrained, out=args.out, name=args.name, resume=args.resume, seed=args.seed,
                         select=args.select, amp_level=args.amp_level, loss_scale=args.loss_scale,
                         in_classes=tuple(int(x) for x in args.in_classes.split(",")) if args.in_classes else None,
                         workers=args.workers, device=args.device, progress=args.progress)
    try:
        train(config, log=_log, warn=_warn)
    except KeyboardInterrupt:
        print(f"fcn4 train: interrupted; finished epochs are saved in {config.run_dir}; continue with the same "
              "command and --resume", file=sys.stderr)
        return 130
    return 0


def _evaluate(args) -> int:
    import json

    from .recipe import evaluate

    result = evaluate(args.weights, args.features, split=args.split, batch_size=args.batch_size,
                      workers=args.workers, log=_log)
    text = json.dumps(result, indent=1) + "\n"
    if args.json:
        from ._atomic import write_text_atomic

        write_text_atomic(args.json, text)
        _log(f"metrics written to {args.json}")
    else:
        sys.stdout.write(text)
    return 0


def _export(args) -> int:
    from .export import export_network
    from .warm_start import build_network

    backbone = build_network(args.weights, None, keep_head=True)
    if not backbone.pretrained:
        raise ValueError("--weights none: export takes trained weights (a hub uid, a card or a .ckpt)")
    net = backbone.network
    if args.logits:
        net.output = "logits"
    front_end = backbone.front_end
    path = export_network(net, args.out, file_format=args.format, batch_size=args.batch_size,
                          n_mels=front_end.n_mels, n_frames=args.frames or front_end.n_frames)
    _log(f"exported {args.weights} as {args.format.upper()} to {path} (input [{args.batch_size}, 1, "
         f"{front_end.n_mels}, {args.frames or front_end.n_frames}] log-mel, output "
         f"{'logits' if args.logits else 'tag probabilities'} [{args.batch_size}, {net.num_classes}])")
    return 0


def _defaults(config_class) -> dict:
    """The defaults of a job's configuration dataclass: the one place they are written."""
    import dataclasses

    return {f.name: f.default for f in dataclasses.fields(config_class)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fcn4", description="FCN-4 music auto-tagging for MindSpore")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run one synthesised clip through the front end and FCN-4")
    demo.add_argument("--seconds", type=float, default=30.0, help="length of the clip (default 30)")
    demo.add_argument("--top-k", type=int, default=5, help="tags to print (default 5)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the clip and the weights")
    demo.set_defaults(run=_demo)

    info = commands.add_parser("info", help="print FCN-4's layer shapes, parameters and cost")
    info.add_argument("--frames", type=int, default=None, help="input frames (default 1366)")
    info.add_argument("--num-classes", type=int, default=50, help="outputs of the head (default 50)")
    info.set_defaults(run=_info)

    from .backends import BACKENDS
    from .decoding import WINDOW_MODES
    from .reports import FORMATS
    from .tagger import AGGREGATES
    from .weights import DEFAULT_UID

    def inference_options(command):
        command.add_argument("paths", nargs="+", metavar="PATH",
                             help="audio files and folders (searched recursively for audio files, sorted)")
        command.add_argument("--weights", default=DEFAULT_UID,
                             help=f"hub uid, card file or .ckpt (default {DEFAULT_UID}, the MagnaTagATune weights)")
        command.add_argument("--labels", help="output names for a .ckpt without a card: a label set of the "
                                              "package (mtat_top50, gtzan_genres) or a file, one a line")
        command.add_argument("--window", choices=WINDOW_MODES, default="clip",
                             help="clip: the centre 29.12 s, as in training (default); track: every window")
        command.add_argument("--hop", type=float, default=None, metavar="SECONDS",
                             help="seconds between track windows (default: the window length, no overlap)")
        command.add_argument("--aggregate", choices=AGGREGATES, default="mean",
                             help="how a track's windows combine (default mean)")
        command.add_argument("--min-seconds", type=float, default=None,
                             help="shorter files fail instead of being padded (default: one window of the "
                                  "network's pooling, 3.39 s; 0 pads anything)")
        command.add_argument("--batch-size", type=int, default=4, help="windows per network call (default 4)")
        command.add_argument("--workers", type=int, default=None,
                             help="decoding processes (default: one per two CPUs; 0 decodes in this process)")
        command.add_argument("--backend", choices=BACKENDS, default="auto",
                             help="auto (default): onnxruntime if installed, else mindspore graph mode")
        command.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all CPUs)")
        command.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                             help="progress bar (default: when stderr is a terminal)")

    tag = commands.add_parser("tag", help="tag audio files and folders; exit 1 if any file failed")
    inference_options(tag)
    tag.add_argument("--top-k", type=int, default=5, help="tags listed per file (default 5; 0: all)")
    tag.add_argument("--threshold", type=float, default=None, metavar="P",
                     help="list only tags with probability >= P")
    tag.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    tag.add_argument("--output", "-o", default=None, metavar="FILE", help="write here instead of stdout")
    tag.set_defaults(run=_tag)

    embed = commands.add_parser("embed", help="2048-d FCN-4 embeddings of audio files to .npz; "
                                              "exit 1 if any file failed")
    inference_options(embed)
    embed.add_argument("--output", "-o", required=True, metavar="FILE.npz",
                       help="where to write (numpy.load(FILE, allow_pickle=False) reads it)")
    embed.set_defaults(run=_embed)

    fetch = commands.add_parser("fetch", help="download or find a card's checkpoint, verify it, print its path")
    fetch.add_argument("name", help="uid (mindspore/ascend/1.1/fcn4_v1.1) or card file")
    fetch.add_argument("--force-reload", action="store_true", help="download again even if cached")
    fetch.add_argument("--offline", action="store_true", help="never download (also FCN4_OFFLINE=1)")
    fetch.set_defaults(run=_fetch)

    card = commands.add_parser("card", help="validate, show or publish MindSpore Hub asset cards")
    cards = card.add_subparsers(dest="card_command", required=True)
    validate = cards.add_parser("validate", help="check cards by the hub's rules; exit 1 if any is invalid")
    validate.add_argument("paths", nargs="*", help="card files or folders (default: this repo's mshub_res/assets)")
    validate.add_argument("--strict", action="store_true", help="also the hub's dataset list and link style")
    validate.set_defaults(run=_card_validate)
    show = cards.add_parser("show", help="print what a card says: checkpoint, sha256, network, labels")
    show.add_argument("name", help="uid or card file")
    show.set_defaults(run=_card_show)
    sha = cards.add_parser("sha256", help="print the sha256 of files, for a card's asset-sha256")
    sha.add_argument("files", nargs="+")
    sha.set_defaults(run=_card_sha256)
    publish = cards.add_parser("publish", help="write a valid card for a trained checkpoint")
    publish.add_argument("checkpoint", help="the trained .ckpt")
    publish.add_argument("--metadata", help="YAML/JSON file with the run's metadata (flags override it)")
    publish.add_argument("--name", help="card name, e.g. fcn4_gtzan_v1.0 (file <name>.md)")
    publish.add_argument("--version", help="model-version")
    publish.add_argument("--dataset", help="train-dataset, e.g. MagnaTagATune or GTZAN")
    publish.add_argument("--asset-link", help="URL where the checkpoint is (or will be) hosted")
    publish.add_argument("--user-id", help="publisher id: the first folder of the card's uid")
    publish.add_argument("--author")
    publish.add_argument("--license", help="default Apache2.0")
    publish.add_argument("--backend", help="cpu, gpu or ascend (default cpu)")
    publish.add_argument("--mindspore-version", help="default: the installed major.minor")
    publish.add_argument("--summary")
    publish.add_argument("--repo-link", help="code of the model (default: the zoo's fcn-4)")
    publish.add_argument("--labels", help="a label set of the package (gtzan_genres, mtat_top50) or a file, one a line")
    publish.add_argument("--metric", action="append", default=[], metavar="NAME=VALUE", help="repeatable")
    publish.add_argument("--in-classes", help="channel widths if not the card's, e.g. 1,128,384,768,2048")
    publish.add_argument("--root", help="assets folder to write under (default: this repo's mshub_res/assets)")
    publish.add_argument("--out", help="exact card path instead of <root>/<user-id>/<backend>/<ms-version>/<name>.md")
    publish.add_argument("--overwrite", action="store_true", help="replace a different existing card")
    publish.add_argument("--strict", action="store_true", help="refuse datasets that are not on the hub's list")
    publish.add_argument("--no-install", action="store_true", help="do not put the checkpoint in the cache")
    publish.set_defaults(run=_card_publish)
    from .datasets import SPLITS
    from .export import EXPORT_FORMATS
    from .mtat import MTAT_SPLIT_METHODS
    from .parallel import DEVICES
    from .prepare import PREPARE_DATASETS, PrepareConfig
    from .recipe import TrainConfig
    from .training import AMP_LEVELS

    pd, td = _defaults(PrepareConfig), _defaults(TrainConfig)

    prep = commands.add_parser("prepare", help="audio of a dataset -> log-mel features in MindRecord shards "
                                                "(resumable; unusable files listed in report.json)")
    prep.add_argument("--dataset", choices=PREPARE_DATASETS, default=pd["dataset"],
                      help=f"default {pd['dataset']} (MagnaTagATune)")
    prep.add_argument("--data-dir", required=True, help="the folder holding annotations_final.csv and the audio "
                                                        "folders 0 ... f (MagnaTagATune)")
    prep.add_argument("--out", required=True, metavar="FEATURES", help="the feature folder to write (or finish)")
    prep.add_argument("--split", choices=MTAT_SPLIT_METHODS, default=pd["split"],
                      help="folders (default): 0-b train, c valid, d-f test; random: seeded, same sizes")
    prep.add_argument("--seed", type=int, default=pd["seed"], help="seed of the random split")
    prep.add_argument("--workers", type=int, default=None, help="decoding processes (default: one per CPU)")
    prep.add_argument("--shard-size", type=int, default=pd["shard_size"],
                      help=f"clips per MindRecord shard (default {pd['shard_size']})")
    prep.add_argument("--min-seconds", type=float, default=None,
                      help="skip shorter files instead of padding them (default: half a clip, 14.56 s)")
    prep.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    prep.set_defaults(run=_prepare)

    tr = commands.add_parser("train", help="train FCN-4 on prepared features (data-parallel under msrun)")
    tr.add_argument("--features", required=True, help="a folder written by fcn4 prepare")
    tr.add_argument("--epochs", type=int, default=td["epochs"], help=f"default {td['epochs']}")
    tr.add_argument("--batch-size", type=int, default=td["batch_size"],
                    help=f"clips per step and process (default {td['batch_size']})")
    tr.add_argument("--lr", type=float, default=td["lr"], help=f"Adam's learning rate (default {td['lr']:g})")
    tr.add_argument("--pretrained", default=td["pretrained"],
                    help="none (default: random weights), a hub uid, a card or a .ckpt")
    tr.add_argument("--out", default=None, help="run folder (default runs/<features folder name>)")
    tr.add_argument("--name", default=None, help="file name of the trained network (default fcn4_<features name>)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its last finished epoch")
    tr.add_argument("--seed", type=int, default=td["seed"], help="seed of the initial weights and the shuffling")
    tr.add_argument("--select", choices=("roc_auc", "pr_auc", "loss"), default=td["select"],
                    help=f"valid metric that picks the best epoch (default {td['select']})")
    tr.add_argument("--amp-level", choices=AMP_LEVELS, default=td["amp_level"],
                    help="mixed precision (default O0: none; others use a fixed loss scale; for GPU/Ascend)")
    tr.add_argument("--loss-scale", type=float, default=td["loss_scale"],
                    help=f"fixed loss scale with mixed precision (default {td['loss_scale']:g})")
    tr.add_argument("--in-classes", default=None, help="widths of a network trained from scratch, e.g. 1,128,384,768,2048")
    tr.add_argument("--workers", type=int, default=td["workers"],
                    help=f"MindDataset reading threads (default {td['workers']})")
    tr.add_argument("--device", choices=DEVICES, default=None,
                    help="where to train (default: what the installed MindSpore build runs on)")
    tr.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    tr.set_defaults(run=_train)

    ev = commands.add_parser("evaluate", help="exact macro ROC-AUC and PR-AUC of weights on prepared features")
    ev.add_argument("--weights", required=True, help="hub uid, card or .ckpt")
    ev.add_argument("--features", required=True, help="a folder written by fcn4 prepare")
    ev.add_argument("--split", choices=SPLITS, default="test", help="default test")
    ev.add_argument("--batch-size", type=int, default=8, help="clips per network call (default 8)")
    ev.add_argument("--workers", type=int, default=2, help="MindDataset reading threads (default 2)")
    ev.add_argument("--json", default=None, metavar="FILE", help="write the metrics here (default: stdout)")
    ev.set_defaults(run=_evaluate)

    ex = commands.add_parser("export", help="export FCN-4 with its weights for serving (MindIR by default)")
    ex.add_argument("--weights", required=True, help="hub uid, card or .ckpt")
    ex.add_argument("--format", type=str.upper, choices=EXPORT_FORMATS, default="MINDIR", help="default MINDIR")
    ex.add_argument("--out", required=True, help="the file to write (model.mindir, model.onnx)")
    ex.add_argument("--batch-size", type=int, default=1, help="the graph's batch size (default 1)")
    ex.add_argument("--frames", type=int, default=None, help="input frames (default: the front end's, 1366)")
    ex.add_argument("--logits", action="store_true", help="output logits instead of probabilities")
    ex.set_defaults(run=_export)
    return parser


def main(argv=None) -> int:
    from .backends import BackendError
    from .cards import CardError
    from .checkpoint import CheckpointError
    from .training import TrainingError
    from .weights import WeightsUnavailable

    args = build_parser().parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"fcn4 {args.command}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        try:
            return args.run(args)
        except (CardError, CheckpointError, WeightsUnavailable, BackendError, TrainingError, ValueError,
                OSError) as exc:
            print(f"fcn4 {args.command}: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
