"""Compiled models in one host executable built with ASan/UBSan, each run in an arena of exactly
its planned size (filled with a pattern first): no read or write may leave the arena, no
undefined behaviour. Skips where the host compiler has no sanitizers."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from te_openmv import KERNELS_DIR, KERNELS_INCLUDE


def assert_clean_under_sanitizers(models: list, tmp_path: Path, exe_name: str = "asan") -> None:
    """models: codegen Compiled objects, each under its own name."""
    main, calls, sources, kernels = ['#include <stdlib.h>', '#include "te_model.h"'], [], [], set()
    for c in models:
        (tmp_path / f"{c.name}.c").write_text(c.emitted.c_source)
        (tmp_path / f"{c.name}.h").write_text(c.emitted.h_source)
        sources.append(str(tmp_path / f"{c.name}.c"))
        kernels |= set(c.emitted.kernel_files)
        main.append(f"extern const te_model {c.name}_model;")
        calls.append(f"    run(&{c.name}_model);")
    main.append("""static void run(const te_model *m) {
    uint8_t *arena = malloc(m->arena_bytes);
    for (uint32_t i = 0; i < m->arena_bytes; i++) arena[i] = (uint8_t)(i * 37u);
    if (m->invoke(m, arena)) abort();
    free(arena);
}
int main(void) {""")
    (tmp_path / "main.c").write_text("\n".join(main + calls + ["    return 0;", "}"]) + "\n")
    exe = tmp_path / exe_name
    cmd = ["gcc", "-g", "-O1", "-std=gnu11", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           f"-I{KERNELS_INCLUDE}", f"-I{tmp_path}", str(tmp_path / "main.c"), *sources,
           *(str(KERNELS_DIR / k) for k in sorted(kernels)), "-o", str(exe)]
    build = subprocess.run(cmd, capture_output=True, text=True)
    if build.returncode != 0 and "sanitize" in build.stderr:
        pytest.skip(f"the host compiler cannot build with sanitizers: {build.stderr.strip()[-300:]}")
    assert build.returncode == 0, build.stderr[-3000:]
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
