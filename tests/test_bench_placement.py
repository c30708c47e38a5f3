"""Big models on the emulated M7: weights (and arena) go where they fit on mps2-an500 —
flash and RAM, else its 16 MiB PSRAM — and the bench says where; a program that fits
nowhere fails with one line naming the memory and the overflow, never a linker dump."""
from __future__ import annotations

import pytest

from te_openmv.commands.bench import BenchSetupError, bench, place
from te_openmv.targets.baremetal import harness

from .support.modelgen import bench_model

MiB = 1 << 20


def test_small_models_stay_in_flash_and_ram():
    p = place(300_000, 100_000, 30_000)
    assert (p.weights, p.arena) == ("FLASH", "RAM")
    assert p.defines() == {} and p.arena_attr() == ""


def test_weights_beyond_flash_go_to_psram():
    p = place(5_640_508, 831_744, 150_528)  # omv_hand_landmarks_full_224
    assert (p.weights, p.arena) == ("PSRAM", "RAM")
    assert "0x60000000" in p.describe(5_640_508, 831_744)


def test_arena_beyond_ram_goes_to_psram():
    assert place(1000, 4 * MiB, 0).arena == "PSRAM"


def test_too_big_even_for_psram_is_one_line():
    with pytest.raises(BenchSetupError) as e:
        place(15 * MiB, 5 * MiB, 0)
    msg = str(e.value)
    assert "\n" not in msg and "16 MiB PSRAM" in msg and f"{20 * MiB - 16 * MiB:,} B more" in msg


def test_linker_overflow_is_summarized():
    stderr = ("/usr/lib/gcc/arm-none-eabi/12.2.1/../../../arm-none-eabi/bin/ld: x.elf section `.rodata' will not "
              "fit in region `FLASH'\n.../ld: region `FLASH' overflowed by 1648072 bytes\ncollect2: error: ld "
              "returned 1 exit status\n")
    assert harness.memory_overflow(stderr) == "FLASH (4 MiB at 0x00000000) overflowed by 1,648,072 bytes"
    assert harness.memory_overflow("undefined reference to `foo'") is None


@pytest.mark.slow
def test_weights_and_arena_in_psram_bench_bit_exact(arm_toolchain, tmp_path):
    r = bench(bench_model(), name="psramnet", placement="PSRAM")
    assert r.ok and r.bit_exact
    assert "PSRAM at 0x60000000" in r.placement and r.flash["psram_bytes"] >= r.flash["model_const_bytes"]
    assert "placement on mps2-an500: weights" in r.format_table()
    # the same model with everything in flash and RAM counts the same instructions (QEMU models
    # no wait states): only where the bytes live changed
    assert bench(bench_model(), name="psramnet").instructions == r.instructions


@pytest.mark.slow
def test_program_too_big_for_flash_fails_in_one_line(arm_toolchain, tmp_path):
    src = tmp_path / "big.c"
    src.write_text('#include "te_bench.h"\nconst unsigned char big[5 << 20] = {1};\n'
                   'int te_bench_main(void) { volatile int i = 12345; return big[i]; }\n')
    with pytest.raises(harness.BenchMemoryError) as e:
        harness.build_elf([src], [], tmp_path / "big.elf")
    msg = str(e.value)
    assert "\n" not in msg and "does not fit mps2-an500: FLASH (4 MiB at 0x00000000) overflowed by" in msg
