"""``fcn4 card validate|show|sha256|publish``: MindSpore Hub asset cards."""
from __future__ import annotations

from ..base.errors import SettingError
from .common import SOME_FAILED, int_list

HELP = "validate, show or publish MindSpore Hub asset cards"


def add_arguments(parser) -> None:
    cards = parser.add_subparsers(dest="card_command", required=True)
    validate = cards.add_parser("validate", help="check cards by the hub's rules; exit 1 if any is invalid")
    validate.add_argument("paths", nargs="*", help="card files or folders (default: this repo's mshub_res/assets)")
    validate.add_argument("--strict", action="store_true", help="also the hub's dataset list and link style")
    validate.set_defaults(run=run_validate)
    show = cards.add_parser("show", help="print what a card says: checkpoint, sha256, network, labels")
    show.add_argument("name", help="uid or card file")
    show.set_defaults(run=run_show)
    sha = cards.add_parser("sha256", help="print the sha256 of files, for a card's asset-sha256")
    sha.add_argument("files", nargs="+")
    sha.set_defaults(run=run_sha256)
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
    publish.set_defaults(run=run_publish)


def run_validate(args) -> int:
    from ..hub.rules import check_cards
    from ..hub.weights import card_roots

    results = check_cards(args.paths or card_roots()[:1], strict=args.strict)
    bad = 0
    for path, problems in results.items():
        print(f"{path}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  - {problem.field}: {problem.message}")
        bad += bool(problems)
    mode = "strict hub rules" if args.strict else "hub rules (datasets off the hub's list accepted; --strict to refuse)"
    print(f"{len(results)} card(s) checked by {mode}: {len(results) - bad} valid, {bad} invalid")
    return SOME_FAILED if bad or not results else 0


def run_show(args) -> int:
    from ..hub.weights import resolve

    spec = resolve(args.name)
    if spec.kind != "card":
        raise SettingError(f"{args.name!r} is no card: pass a uid or a card file")
    print(f"uid:           {spec.uid}\ncard:          {spec.card_path}\nmodel-name:    {spec.model_name}")
    print(f"checkpoint:    {spec.url}\nsha256:        {spec.sha256}\ncached at:     {spec.cache_path}")
    print(f"dataset:       {spec.dataset}\nnetwork:       {dict(spec.network_arguments())}")
    print(f"front end:     {spec.front_end}")
    labels = spec.labels or ()
    print(f"labels ({len(labels)}): {', '.join(labels)}")
    if spec.metrics:
        print(f"metrics:       {dict(spec.metrics)}")
    return 0


def run_sha256(args) -> int:
    from ..hub.download import sha256_file

    for path in args.files:
        print(f"{sha256_file(path)}  {path}")
    return 0


def run_publish(args) -> int:
    from ..hub.publish import CardMetadata, publish_card
    from ..model.labels import labels_from

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
        metrics[key.strip()] = _number("--metric", item, value)
    values["metrics"] = metrics
    if args.in_classes:
        values.setdefault("arguments", {})["in_classes"] = list(int_list("--in-classes", args.in_classes))
    published = publish_card(args.checkpoint, CardMetadata.from_mapping(values), root=args.root,
                             out=args.out, overwrite=args.overwrite, strict=args.strict, install=not args.no_install)
    print(f"card:       {published.path}\nuid:        {published.uid}\nsha256:     {published.sha256}")
    if published.cached_checkpoint:
        print(f"checkpoint: {published.cached_checkpoint} (cached: the card loads offline)")
    print("next: host the checkpoint at the card's asset-link, then propose the card to the hub repository")
    return 0


def _number(flag: str, item: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SettingError(f"{flag} {item!r}: write NAME=NUMBER, e.g. accuracy=0.81") from None
