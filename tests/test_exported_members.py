"""statetrail.__all__ lists exactly the public names (httpx's test of the same)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import statetrail


def test_all_lists_every_public_name() -> None:
    """Every public attribute of the package is in __all__ and vice versa.

    Some names are imported when first used (PEP 562, issue 11): dir() lists
    them before, and they are attributes like the others once asked for.
    """
    listed = {name for name in dir(statetrail) if not name.startswith("_")}
    for name in statetrail.__all__:
        getattr(statetrail, name)
    public = {
        name
        for name, value in vars(statetrail).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    # The function statetrail.context and statetrail.diff shadow their modules.
    assert public == set(statetrail.__all__) - {"__version__"}
    modules = {
        name
        for name in listed
        if isinstance(getattr(statetrail, name), types.ModuleType)
    }
    assert listed - modules == public


def test_every_module_declares_all_and_documents_its_names() -> None:
    """Each public module declares __all__, and every name in it has a docstring."""
    for info in pkgutil.walk_packages(statetrail.__path__, "statetrail."):
        module = importlib.import_module(info.name)
        assert module.__doc__, info.name
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        names = getattr(module, "__all__", None)
        assert names is not None, f"{info.name} has no __all__"
        for name in names:
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert obj.__doc__, f"{info.name}.{name} has no docstring"
