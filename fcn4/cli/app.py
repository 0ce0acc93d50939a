"""``fcn4 app``: a local web page over a store: the table, a track, its neighbours, a dropped file tagged."""
from __future__ import annotations

import sys

HELP = "a page over a store on 127.0.0.1 (browse, filter by tag, listen, neighbours, tag a dropped file)"


def add_arguments(parser) -> None:
    from ..app.uploads import MAX_UPLOAD_MB
    from .common import real_number, whole_number

    parser.add_argument("--store", required=True, metavar="FOLDER",
                        help="a store written by `fcn4 tag --ray -o FOLDER` or `fcn4 embed --ray -o FOLDER`")
    parser.add_argument("--port", type=whole_number(0, 65535), default=0,
                        help="port on 127.0.0.1 (default 0: a free one); the page listens on this machine only")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.add_argument("--max-upload-mb", type=real_number(0, 1 << 20, low_open=True), default=MAX_UPLOAD_MB,
                        help="largest file the page takes to tag, MiB (default %(default)s)")
    parser.add_argument("--workers", type=whole_number(1, 1024), default=1,
                        help="decoding processes for dropped files (default %(default)s)")


def run(args) -> int:
    from ..app.server import serve, start

    running = start(args.store, port=args.port, max_upload_mb=args.max_upload_mb, workers=args.workers)
    print(f"fcn4 app: serving {args.store} ({len(running.app.state.catalog):,} tracks) at\n\n    {running.url}\n\n"
          "open that URL (it holds this server's token); Ctrl-C stops the server", file=sys.stderr, flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(running.url)
    serve(running)  # until Ctrl-C: open requests finished, the uploads folder removed, the tagger closed
    print("fcn4 app: stopped", file=sys.stderr, flush=True)
    return 0
