"""MicroPython code that runs on the device, and the text the host sends to run it.

`te_protocol.py` is the device side of te_openmv.targets.serial_protocol. It is not frozen into the
firmware: the host sends it through the raw REPL every time (so host and device never
disagree on the protocol version) and calls its `main()`. Comments and docstrings are
stripped first: the QEMU board's UART takes only a few KB per second.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

DEVICE_SCRIPT = Path(__file__).resolve().with_name("te_protocol.py")


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@lru_cache(maxsize=None)
def device_source() -> str:
    """te_protocol.py without comments or docstrings (same code, fewer bytes on the wire)."""
    code = ast.unparse(_strip_docstrings(ast.parse(DEVICE_SCRIPT.read_text())))
    # ast.unparse indents by 4 spaces and writes every string literal on one line:
    # one space per level is the same program, a fifth of the indentation bytes.
    lines = []
    for line in code.splitlines():
        body = line.lstrip(" ")
        lines.append(" " * ((len(line) - len(body)) // 4) + body)
    return "\n".join(lines) + "\n"


def launch_script(idle_s: int, gap_ms: int, max_payload: int) -> str:
    """The script the raw REPL executes: the protocol code, then its main loop."""
    return device_source() + f"main({int(idle_s)}, {int(gap_ms)}, {int(max_payload)})\n"
