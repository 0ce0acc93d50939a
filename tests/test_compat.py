"""The one compatibility table (fcn4.base.compat.MOVED): every 0.1 name still imports, warns with
FCN4DeprecationWarning naming its new name, and gives what the new name gives."""
import importlib
import sys
import warnings

import pytest

import fcn4
from fcn4.base.compat import MOVED, OLD_MODULES
from fcn4.errors import FCN4DeprecationWarning


def _new(dotted):
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError:  # module.Class.method
        module, _, owner = module.rpartition(".")
        return getattr(getattr(importlib.import_module(module), owner), name)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_old_name_imports_with_a_warning_naming_the_new_one(old, monkeypatch):
    new = MOVED[old]
    if old.removeprefix("fcn4.") in OLD_MODULES:  # a module path: the new module itself
        monkeypatch.delitem(sys.modules, old, raising=False)
        if old.removeprefix("fcn4.") in vars(fcn4):  # getattr would import it (and warn) here
            monkeypatch.delattr(fcn4, old.removeprefix("fcn4."))
        with pytest.warns(FCN4DeprecationWarning, match=f"{old} is now {new};"):
            module = importlib.import_module(old)
        assert module is importlib.import_module(new) and module.__spec__.name == new
        return
    module, _, name = old.rpartition(".")
    with warnings.catch_warnings():  # an old module's own warning is another case's (xdist may run it elsewhere)
        warnings.simplefilter("ignore", FCN4DeprecationWarning)
        owner = importlib.import_module(module)
    with pytest.warns(FCN4DeprecationWarning, match=f"{old} is now {new};"):
        value = getattr(owner, name)
    if module != "fcn4.warm_start" or name == "Backbone":  # the other two are adapters to the new call
        assert value is _new(new)


def test_the_old_names_users_hold_still_import():
    with pytest.warns(FCN4DeprecationWarning):
        from fcn4.cards import CardError, validate_card  # noqa: F401
        from fcn4.hub import load  # noqa: F401
        from fcn4.training import ArrayBatches, Trainer  # noqa: F401
        from fcn4.warm_start import Backbone, build_network, network_arguments  # noqa: F401


def test_warm_start_s_adapters_build_as_0_1_did():
    with pytest.warns(FCN4DeprecationWarning):
        from fcn4.warm_start import build_network, network_arguments
    built = build_network("none", 10, in_classes=[1, 8, 8, 8, 16])
    assert not built.pretrained and built.network.num_classes == 10
    assert network_arguments(built.network) == built.network.arguments()


def test_current_names_do_not_warn(recwarn):
    from fcn4.audio.frontend import FrontEnd  # noqa: F401
    from fcn4.hub.rules import validate_card  # noqa: F401
    assert fcn4.FrontEnd is not None and fcn4.errors.FCN4Error is not None
    assert not [w for w in recwarn if issubclass(w.category, FCN4DeprecationWarning)]


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        fcn4.audio.NoSuchName  # noqa: B018
