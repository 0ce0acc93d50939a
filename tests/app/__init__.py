"""Tests of fcn4 app (a package, so that its conftest.py is not taken for tests/conftest.py)."""
