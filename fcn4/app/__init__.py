"""``fcn4 app``: a local web page over a store (the table, a track, its neighbours, a dropped file
tagged) and the JSON API behind it, served on 127.0.0.1 behind a token. Needs the ``[app]`` extra
(Starlette, uvicorn, Jinja2) besides the store's (pyarrow, faiss).

>>> from fcn4.app.server import serving                       # doctest: +SKIP
>>> with serving("my_store") as running:                     # doctest: +SKIP
...     print(running.url)
"""
