"""Drop-in replacements for the packages statetrail grew from.

- ``statetrail.compat.alma`` for ``alma`` (alma-framework)
- ``statetrail.compat.roz_remembers`` for ``roz_remembers`` (roz-remembers)
- ``statetrail.compat.shoobx_immutable`` for ``shoobx.immutable``
"""

__all__: list[str] = []
