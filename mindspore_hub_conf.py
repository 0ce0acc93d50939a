"""The file the MindSpore Hub client imports from a model's code folder; see hubconf.py."""
from hubconf import create_network

__all__ = ["create_network"]
