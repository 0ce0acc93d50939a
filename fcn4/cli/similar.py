"""``fcn4 similar``: the tracks of a store whose embeddings are nearest to a query file's."""
from __future__ import annotations

import json
import sys

from .common import check_output_file, defaults, output, positive_int

HELP = "the tracks of an embedding store most similar to an audio file (cosine, faiss)"


def add_arguments(parser) -> None:
    from ..library.similarity import EXACT_UP_TO, similar

    parser.add_argument("query", metavar="QUERY_FILE",
                        help="an audio file (one the store holds uses its stored embedding)")
    parser.add_argument("--store", required=True, metavar="FOLDER",
                        help="a store written by `fcn4 embed --ray -o FOLDER`")
    parser.add_argument("-k", type=positive_int, default=defaults(similar)["k"], help="how many tracks (default 10)")
    parser.add_argument("--exact", action="store_true",
                        help=f"search every vector (default: exact below {EXACT_UP_TO:,} embeddings, "
                             "else a cached IVF index)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    parser.add_argument("--output", "-o", default=None, metavar="FILE", help="write here instead of stdout")


def run(args) -> int:
    from ..library.similarity import similar

    if args.output is not None:
        check_output_file("--output", args.output)
    found = similar(args.query, args.store, args.k, exact=True if args.exact else None)
    if not found:  # said, never an empty answer alone
        print(f"fcn4 similar: the store {args.store} holds no other track to compare {args.query} with",
              file=sys.stderr)
    with output(args.output) as handle:
        if args.format == "json":
            handle.write(json.dumps({"query": args.query, "store": args.store, "similar": [
                {"path": path, "similarity": score} for path, score in found]}, indent=1) + "\n")
        else:
            for rank, (path, score) in enumerate(found, 1):
                handle.write(f"{rank:>3}  {score:.4f}  {path}\n")
    return 0
