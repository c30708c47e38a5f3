"""One bare-metal program that runs many compiled test models once each on the emulated
Cortex-M7 (tests/test_conv_m7.py, tests/test_depthwise_m7.py, tests/test_elementwise_m7.py):
every model's C source and a main.c that copies a case's inputs into one shared arena, runs it between
te_bench_begin/te_bench_end (its instruction count, keyed by name) and prints the CRC32 of
its output under the same key."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from te_openmv import KERNELS_DIR, KERNELS_INCLUDE


def write_case_program(cases: list[tuple[str, object, np.ndarray]], out: Path, decls: tuple[str, ...] = (),
                       tail: tuple[str, ...] = ()) -> list[Path]:
    """cases: (name, codegen Compiled, int8 input or a list of them, one per model input).
    `decls`: C lines before te_bench_main; `tail`: C lines run after the cases. Returns the sources to build: main.c, the models
    and the kernel files they use."""
    main = ['#include <string.h>', '#include "te_bench.h"', '#include "te_model.h"', *decls]
    body, sources, kernels, arena = [], [], set(), 0
    for name, c, x in cases:
        (out / f"{name}.c").write_text(c.emitted.c_source)
        (out / f"{name}.h").write_text(c.emitted.h_source)
        sources.append(out / f"{name}.c")
        kernels |= set(c.emitted.kernel_files)
        arena = max(arena, c.plan.peak)
        main.append(f"extern const te_model {name}_model;")
        copies = []
        for k, xk in enumerate(x if isinstance(x, (list, tuple)) else [x]):
            main.append(f"static const int8_t {name}_in{k}[{xk.size}] = "
                        f"{{{','.join(map(str, xk.reshape(-1).tolist()))}}};")
            copies.append(f"    memcpy(arena + {name}_model.inputs[{k}].offset, {name}_in{k}, sizeof {name}_in{k});")
        body.append("\n".join(copies) + f"""
    te_bench_begin("{name}");
    {name}_model.invoke(&{name}_model, arena);
    te_bench_end();
    __asm__ volatile("");
    te_bench_kv_hex("{name}", te_bench_crc32(0, arena + {name}_model.outputs[0].offset,
                                                {name}_model.outputs[0].bytes));""")
    main.append(f"static uint8_t arena[{arena}] __attribute__((aligned(8)));")
    main.append("int te_bench_main(void) {")
    main += body
    main += [*tail, "    return 0;", "}"]
    (out / "main.c").write_text("\n".join(main) + "\n")
    return [out / "main.c", *sources, *(KERNELS_DIR / k for k in sorted(kernels))]


def run_cases(cases, out: Path, seed: int, timeout: float):
    """Compile each (name, model, inputs or None, ...) case, check the host build against
    tflite-micro on its inputs (random ones, drawn with `seed`, for None), then run every case
    in one ELF on the M7. Returns (the harness's result, host outputs by name, Compiled by name)."""
    from te_openmv.codegen.compiler import compile_model
    from te_openmv.targets.baremetal import harness
    from te_openmv.targets.host_build import HostModel

    from .bitexact import reference
    rng = np.random.default_rng(seed)
    program, host, compiled = [], {}, {}
    for name, model, xs, *_ in cases:
        c = compile_model(model, name)
        compiled[name] = c
        hm = HostModel(c)
        if xs is None:
            xs = [rng.integers(-128, 128, size=t.shape).astype(np.int8) for t in hm.inputs]
        y = hm.run(xs)[0]
        ref = np.asarray(reference(model, xs)[0]).reshape(y.shape)
        assert np.array_equal(y, ref), f"{name}: the host differs from tflite-micro"
        host[name] = y
        program.append((name, c, xs))
    srcs = write_case_program(program, out)
    elf = harness.build_elf(srcs, [KERNELS_INCLUDE, out], out / f"{out.name}.elf")
    return harness.run_elf(elf, timeout=timeout), host, compiled


def assert_device_matches_host(run, host: dict, name: str) -> None:
    """The M7's output CRC for case `name` equals the CRC32 of the host build's output."""
    import zlib
    want = zlib.crc32(np.ascontiguousarray(host[name]).tobytes())
    assert run.value_int(name) == want, f"{name}: the M7 (DSP) output differs from the host's"


def report_per_output(run, host: dict, cases, width: int) -> None:
    """Print each case's instructions per output element (speed is reported, not asserted)."""
    for name, _, _, _, what in cases:
        n = run.regions[name]
        assert n > 0
        print(f"{name:{width}s} {host[name].size:7d} outputs {n:9d} instructions {n / host[name].size:6.2f} per output  ({what})")
