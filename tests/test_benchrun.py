"""The bare-metal bench harness: exact instruction counts, stack high-water mark,
self-check, fault and misuse reporting, output protocol (te_openmv/harness.py and
te_openmv/targets/baremetal/). Needs arm-none-eabi-gcc and qemu-system-arm (installed on demand)."""
from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from te_openmv.targets.baremetal import harness
from te_openmv.targets.baremetal.harness import (BenchCrashError, BenchError, BenchRegionError,
    BenchSelfCheckError, BenchStackOverflowError, BenchTimeoutError)

FIXTURES = Path(__file__).parent / "fixtures" / "bench"


@pytest.fixture(scope="session")
def build(arm_toolchain, tmp_path_factory):
    """build(fixture_name, **defines) -> ELF, built once per session per variant."""
    out_dir = tmp_path_factory.mktemp("bench")
    built: dict[tuple, Path] = {}

    def _build(name: str, stack_size: int | None = None, **defines) -> Path:
        key = (name, stack_size, tuple(sorted(defines.items())))
        if key not in built:
            tag = "_".join([name] + [f"{k}{v}" for k, v in sorted(defines.items())] + [str(stack_size or "")])
            built[key] = harness.build_elf([FIXTURES / f"{name}.c"], [], out_dir / f"{tag}.elf",
                                            defines=defines, stack_size=stack_size)
        return built[key]
    return _build


@pytest.fixture(scope="session")
def known_loops(build):
    return harness.run_elf(build("known_loops"))


def test_counts_match_independently_known_instruction_counts(known_loops):
    r = known_loops.regions
    # Each asm block is movw + N x (subs, nop, bne): 3N + 1 instructions, nothing else in the region.
    assert r["empty"] == 0
    assert r["loop 1000"] == 3 * 1000 + 1
    assert r["loop 5000"] == 3 * 5000 + 1
    assert r["loop 5000"] - r["loop 1000"] == 3 * 4000
    # Nested: the inner pair's own cost is removed from the outer count.
    assert r["inner"] == 3 * 2000 + 1
    assert r["outer"] == (3 * 2000 + 1) + (3 * 700 + 1)
    assert known_loops.region_calls["repeated"] == 3
    assert r["repeated"] == 3 * (3 * 100 + 1)
    depths = {g.name: g.depth for g in known_loops.region_log}
    assert depths["inner"] == 1 and depths["outer"] == 0
    # inner is reported before the outer region that encloses it
    names = [g.name for g in known_loops.region_log]
    assert names.index("inner") < names.index("outer")


def test_calibration_is_reported_and_counts_are_deterministic(known_loops, build):
    assert 0 < known_loops.empty_overhead < 50
    assert known_loops.empty_overhead < known_loops.nested_overhead < 200
    again = harness.run_elf(build("known_loops"))
    assert again.region_log == known_loops.region_log


def test_region_longer_than_the_32bit_timer(build):
    # 1.35e9 instructions: past one wrap of the 25 MHz timer (2^32 ticks = 1.342e9 instructions).
    run = harness.run_elf(build("long_loop"))
    assert run.regions["long"] == 3 * 450_000_000 + 1


@pytest.mark.parametrize("shift", [6, 8, None])
def test_selfcheck_rejects_wrong_or_missing_icount(build, shift):
    with pytest.raises(BenchSelfCheckError, match=r"-icount shift=7"):
        harness.run_elf(build("known_loops"), icount_shift=shift)


def test_stack_use_of_a_local_array_is_reported(build):
    small = harness.run_elf(build("stack_user", LOCAL_BYTES=1024))
    large = harness.run_elf(build("stack_user", LOCAL_BYTES=5120))
    assert small.values["sum"]  # the function ran
    assert 1024 <= small.stack_used_bytes < 1024 + 128
    assert 5120 <= large.stack_used_bytes < 5120 + 128
    assert large.stack_used_bytes - small.stack_used_bytes == 4096
    assert small.stack_total_bytes >= small.stack_used_bytes
    assert small.stack_size_bytes == 64 * 1024


def test_output_lines_values_and_exit_code(build):
    run = harness.run_elf(build("output", EXIT_CODE=7))
    assert run.exit_code == 7
    assert run.program_lines == ["hello from the program", "printf works: 42", "unterminated"]
    assert run.values["float_milli"] == "4500"
    assert run.values["double_milli"] == "5062"
    assert run.value_int("negative") == -12345
    assert run.value_int("sizes") == 2 + 7 + 0
    assert run.value_int("crc_check") == zlib.crc32(b"123456789")
    assert run.values["label"] == "two words"
    assert run.heap_used_bytes > 0  # newlib's printf allocates its buffer
    assert run.lines[0] == "TE:HELLO 1" and run.lines[-1] == "TE:EXIT 7"
    with pytest.raises(KeyError, match="no value"):
        run.value_int("missing")
    assert harness.run_elf(build("output")).exit_code == 0


def test_size_of_splits_sections(build):
    sizes = harness.size_of(build("output"))
    assert sizes["rodata"] >= 4096
    assert sizes["data"] >= 100
    assert sizes["bss"] >= 2000
    assert sizes["text"] > 1000
    assert sizes["flash"] == sizes["text"] + sizes["rodata"] + sizes["data"]
    assert sizes["stack"] == 64 * 1024


def test_stack_size_is_configurable(build):
    elf = build("stack_user", stack_size=16 * 1024, LOCAL_BYTES=1024)
    assert harness.size_of(elf)["stack"] == 16 * 1024
    assert harness.run_elf(elf).stack_size_bytes == 16 * 1024


@pytest.mark.parametrize("mode, error, message", [
    (1, BenchCrashError, r"BusFault .*PRECISERR.* at te_bench_main \(misbehave\.c:\d+\)"),
    (2, BenchCrashError, r"UsageFault .*UNDEFINSTR"),
    (3, BenchStackOverflowError, r"stack overflow"),
    (4, BenchRegionError, r"region still open: never ended"),
    (5, BenchRegionError, r"te_bench_end\(\) without an open region"),
    (6, BenchError, r"exited with 250, outside 0\.\.199"),
])
def test_failures_raise_clear_errors(build, mode, error, message):
    with pytest.raises(error, match=message) as info:
        harness.run_elf(build("misbehave", MODE=mode))
    if mode != 3:
        assert not isinstance(info.value, BenchStackOverflowError)


def test_timeout_kills_qemu(build):
    with pytest.raises(BenchTimeoutError, match="did not finish within 2 s"):
        harness.run_elf(build("misbehave", MODE=7), timeout=2)


def test_build_errors_are_clear(tmp_path, arm_toolchain):
    bad = tmp_path / "bad.c"
    bad.write_text("int te_bench_main(void) { return undeclared; }\n")
    with pytest.raises(harness.BenchBuildError, match="undeclared"):
        harness.build_elf([bad], [], tmp_path / "bad.elf")
    with pytest.raises(harness.BenchBuildError, match="not found"):
        harness.build_elf([tmp_path / "missing.c"], [], tmp_path / "m.elf")
    nomain = tmp_path / "nomain.c"
    nomain.write_text("int unrelated(void) { return 0; }\n")
    with pytest.raises(harness.BenchBuildError, match="te_bench_main"):
        harness.build_elf([nomain], [], tmp_path / "nomain.elf")
