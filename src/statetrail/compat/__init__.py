"""Drop-in replacements for the packages statetrail grew from.

- ``statetrail.compat.alma`` for ``alma`` (alma-framework)
"""

__all__: list[str] = []
