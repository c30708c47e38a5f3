"""Operator lowerings, one module per operator family, discovered automatically.

Each module defines Lowering subclasses (see base.py); LOWERINGS maps an op type to
the instance that handles it.
"""
from __future__ import annotations

import importlib
import pkgutil

from te_openmv.codegen.lower.base import Lowering


def _discover() -> dict[str, Lowering]:
    table: dict[str, Lowering] = {}
    for mod in pkgutil.iter_modules(__path__):
        if mod.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Lowering) and obj is not Lowering \
                    and obj.__module__ == module.__name__:
                inst = obj()
                for t in obj.op_types:
                    assert t not in table, f"two lowerings claim {t}"
                    table[t] = inst
    return table


LOWERINGS = _discover()


def lowering_for(op_type: str) -> Lowering | None:
    return LOWERINGS.get(op_type)
