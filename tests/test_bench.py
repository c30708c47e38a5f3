"""`te-openmv bench`: instruction counts of a compiled model on the emulated Cortex-M7,
checked against counts taken independently of the per-operator hooks (the same
kernels called directly between te_bench_begin/end, and the model built without
hooks), bit-exactness with the host, both kernel flavours, memory figures, JSON, errors.
Needs arm-none-eabi-gcc and qemu-system-arm (installed on demand)."""
from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest

from te_openmv.codegen.compiler import compile_model
from te_openmv import KERNELS_DIR, KERNELS_INCLUDE
from te_openmv.commands import bench as bench_mod
from te_openmv.targets.baremetal import harness
from te_openmv.commands.bench import BenchSetupError, bench
from te_openmv.commands.cli import main

from .support.modelgen import bench_model
from .support.shared import shared_images, shared_model

NAME = "benchnet"





@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("benchmodel") / f"{NAME}.tflite"
    p.write_bytes(bench_model())
    return p


@pytest.fixture(scope="session")
def results(arm_toolchain, model_file, tmp_path_factory):
    """Bench results of the small model, per kernel flavour (dsp also written to an --out directory)."""
    out = tmp_path_factory.mktemp("bench-out")
    return {"dsp": bench(model_file, kernels="dsp", out_dir=out), "portable": bench(model_file, kernels="portable"),
            "out": out}


# ------------------------------------------------------------------ figures

@pytest.mark.parametrize("kernels", ["dsp", "portable"])
def test_small_model_is_bit_exact_and_its_figures_add_up(results, kernels):
    r = results[kernels]
    compiled = compile_model(bench_model(), NAME, f"{NAME}.tflite")
    report = compiled.report
    assert r.kernels == kernels and r.icount_shift == 7 and r.model == NAME
    assert r.bit_exact and r.repeatable and r.status == 0
    assert [o.compared for o in r.outputs] == ["bytes"] and r.outputs[0].bytes == 64
    assert r.macs == report["macs"] == sum(o["macs"] for o in report["ops"])
    assert [(o.index, o.type, o.macs) for o in r.ops] == [(o["position"], o["type"], o["macs"]) for o in report["ops"]]
    assert all(o.instructions > 100 for o in r.ops)
    # The hooks' cost is removed from each operator and from the whole; what the operators
    # leave of the whole is the call into invoke (a handful of instructions).
    assert 0 < r.hook_inside < r.hook_per_op < 40
    assert all(o.measured - o.instructions == round(r.hook_inside) for o in r.ops)
    assert r.instructions_measured - r.instructions == round(r.hook_per_op * len(r.ops))
    assert 0 <= r.outside_ops < 40
    assert sum(o.instructions for o in r.ops) + r.outside_ops == r.instructions
    conv = r.ops[0]
    assert conv.macs == 16 * 16 * 8 * 27 and conv.macs_per_instruction == conv.macs / conv.instructions
    # memory: the arena as planned, the stack as measured (kernel frames, no harness frames)
    assert r.sram["arena_bytes"] == report["peak_sram_bytes"]
    assert 64 < r.sram["stack_bytes"] < 2048
    assert r.sram["total"] == r.sram["arena_bytes"] + r.sram["stack_bytes"]
    f = r.flash
    assert f["total"] == f["text"] + f["rodata"] + f["data"]
    assert f["model_const_bytes"] == report["weights_bytes"]
    assert f["model_const_bytes"] <= f["model_file_bytes"] < f["total"]
    assert 0 < f["kernel_bytes"] < f["text"]
    assert f["input_bytes"] == 16 * 16 * 3


def test_only_the_gemm_variants_the_model_names_are_linked(results, arm_toolchain):
    """The generated C names each convolution's assembly variants (TE_CONV_GEMM, and
    TE_CONV_GEMM3 for the blocks of 3 pixels), so the ELF holds those and none of the others
    (the uniform-shift copies included)."""
    import re
    import subprocess
    r = results["dsp"]
    source = compile_model(bench_model(), NAME).emitted.c_source
    named = set(re.findall(r"TE_CONV_GEMM\((\w+)\)", source)) | \
        {"3_" + v for v in re.findall(r"TE_CONV_GEMM3\((\w+)\)", source)}
    assert named
    nm = Path(arm_toolchain[0]).with_name("arm-none-eabi-nm")
    symbols = subprocess.run([str(nm), str(r.elf)], capture_output=True, text=True, check=True).stdout
    linked = set(re.findall(r"\bte_gemm_((?:3_)?w?(?:no)?sign_(?:full|clamp)_(?:two|loop)(?:_e\d+)?)\b", symbols))
    assert linked == named


def test_kernel_flavours_differ_where_kernels_have_dsp_paths(results):
    dsp, portable = results["dsp"], results["portable"]
    # the DSP build really uses other code (conv has a DSP path), and the same outputs
    assert dsp.ops[0].instructions != portable.ops[0].instructions
    assert dsp.outputs[0].device_crc32 == portable.outputs[0].device_crc32 == dsp.outputs[0].host_crc32


def test_counts_are_deterministic(results, model_file):
    again = bench(model_file, kernels="dsp")
    first = results["dsp"]
    assert [o.measured for o in again.ops] == [o.measured for o in first.ops]
    assert again.instructions == first.instructions


def _device_program(compiled, body: str, main: str) -> str:
    """A bench program that includes the model's C file (its static weights and parameters)."""
    return (f'#include <string.h>\n#include "te_bench.h"\n#include "{compiled.name}.c"\n'
            f"static uint8_t arena[{compiled.report['peak_sram_bytes']}] __attribute__((aligned(16)));\n"
            f"{body}\nint te_bench_main(void) {{\n{main}\n    return 0;\n}}\n")


def test_operator_counts_match_kernels_called_directly(results, tmp_path):
    """Each operator's statement from the generated invoke, called directly between
    te_bench_begin/end without hooks, on the same input: the counts agree."""
    r = results["dsp"]
    compiled = compile_model(bench_model(), NAME, f"{NAME}.tflite")
    steps = re.findall(r"TE_OP_BEGIN\(model, (\d+), arena\);\n(.*?)\n\s*TE_OP_END", compiled.emitted.c_source, re.S)
    assert [int(i) for i, _ in steps] == list(range(len(r.ops)))
    (tmp_path / f"{NAME}.c").write_text(compiled.emitted.c_source)
    (tmp_path / f"{NAME}.h").write_text(compiled.emitted.h_source)
    from te_openmv.targets.host_build import HostModel
    (x,), _ = bench_mod._make_inputs(HostModel(compiled), 0, None)  # bench's seed-0 input
    inp, out = compiled.report["inputs"][0], compiled.report["outputs"][0]
    body = "static const uint8_t input[] = {" + ", ".join(map(str, x.arena)) + "};\n"
    for i, code in steps:
        body += (f"__attribute__((noipa)) void direct_{i}(const te_model *model, uint8_t *arena) {{\n"
                 f"    (void)model;\n    te_bench_begin(\"direct {i}\");\n{code}\n"
                 f"    te_bench_end();\n    __asm__ volatile(\"\");\n}}\n")
    main = (f"    memcpy(arena + {inp['offset']}, input, sizeof input);\n"
            + "".join(f"    direct_{i}(&{NAME}_model, arena);\n" for i, _ in steps)
            + f'    te_bench_kv_hex("crc", te_bench_crc32(0, arena + {out["offset"]}, {out["bytes"]}));')
    src = tmp_path / "direct.c"
    src.write_text(_device_program(compiled, body, main))
    kernels = [KERNELS_DIR / f for f in compiled.emitted.kernel_files]
    run = harness.run_elf(harness.build_elf([src, *kernels], [tmp_path, KERNELS_INCLUDE], tmp_path / "direct.elf"))
    assert run.value_int("crc") == r.outputs[0].device_crc32
    for op in r.ops:
        direct = run.regions[f"direct {op.index}"]
        # the generated invoke may set up a kernel's arguments a little differently
        assert abs(op.instructions - direct) <= 4, (op, direct)


def test_total_matches_the_model_built_without_hooks(results, tmp_path):
    """The same bench program built without TE_OP_HOOKS measures invoke without any hook
    cost: bench's total (hooks subtracted) must agree."""
    r = results["dsp"]
    compiled = compile_model(bench_model(), NAME, f"{NAME}.tflite")
    src_dir = results["out"]
    kernels = [KERNELS_DIR / f for f in compiled.emitted.kernel_files]
    elf = harness.build_elf([src_dir / "bench_main.c", src_dir / f"{NAME}.c", *kernels],
                             [src_dir, KERNELS_INCLUDE], tmp_path / "nohooks.elf")
    run = harness.run_elf(elf)
    assert "op 0 CONV_2D" not in run.regions  # really no hooks
    assert run.value_int("out0_crc") == r.outputs[0].device_crc32
    assert abs(run.regions["invoke"] - r.instructions) <= len(r.ops), (run.regions["invoke"], r.instructions)


# ------------------------------------------------------------------ CLI and JSON

def test_cli_json_schema_and_out_directory(results, model_file, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["bench", str(model_file), "--json", "--out", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    keys = {"model", "source", "kernels", "icount_shift", "input", "instructions", "macs", "macs_per_instruction",
            "instructions_measured", "hook_overhead", "outside_ops", "ops", "flash", "sram", "bit_exact",
            "repeatable", "status", "outputs", "elf", "placement"}
    assert set(d) == keys
    assert d["bit_exact"] is True and d["kernels"] == "dsp" and d["icount_shift"] == 7
    assert d["instructions"] == results["dsp"].instructions and d["input"] == "random, seed 0"
    assert set(d["hook_overhead"]) == {"per_op", "inside_op", "total"}
    for op in d["ops"]:
        assert set(op) == {"index", "type", "macs", "instructions", "measured", "macs_per_instruction", "share",
                           "flash_bytes"}
        assert isinstance(op["instructions"], int) and 0 < op["share"] < 1
    assert abs(sum(op["share"] for op in d["ops"]) - 1) < 0.01
    assert sum(op["flash_bytes"] for op in d["ops"]) == d["flash"]["model_const_bytes"]  # flash per operator
    assert set(d["flash"]) == {"text", "rodata", "data", "total", "model_const_bytes", "model_file_bytes",
                               "kernel_bytes", "input_bytes", "psram_bytes"}
    assert d["flash"]["psram_bytes"] == 0 and "in FLASH at 0x00000000" in d["placement"]
    assert set(d["sram"]) == {"arena_bytes", "stack_bytes", "total"}
    o = d["outputs"][0]
    assert o["identical"] is True and o["compared"] == "bytes" and o["host_crc32"] == o["device_crc32"]
    assert json.loads((out / "bench.json").read_text()) == d
    for f in ("bench_main.c", f"{NAME}.c", f"{NAME}.h", f"{NAME}.elf"):
        assert (out / f).is_file()
    assert Path(d["elf"]) == out / f"{NAME}.elf"


def test_cli_table(results, model_file, capsys):
    assert main(["bench", str(model_file), "--kernels", "portable"]) == 0
    text = capsys.readouterr().out
    r = results["portable"]
    assert "portable kernels" in text and "bit-exact: yes" in text
    assert re.search(rf"^\s+1\s+DEPTHWISE_CONV_2D\s+{r.ops[1].macs:,}\s+{r.ops[1].instructions:,}\s", text, re.M)
    assert re.search(rf"^\s+total\s+{r.macs:,}\s+{r.instructions:,}\s", text, re.M)
    assert f"arena {r.sram['arena_bytes']:,} + stack {r.sram['stack_bytes']:,}" in text


def test_seed_and_image_change_the_input(arm_toolchain, model_file):
    images = shared_images()
    if not (images / "person_crop.png").is_file():
        pytest.skip(f"shared images not found at {images}")
    r = bench(model_file, image=images / "person_crop.png")
    assert r.input == "image person_crop.png" and r.bit_exact
    assert r.outputs[0].device_crc32 != zlib.crc32(b"")


def test_large_outputs_are_compared_by_crc(arm_toolchain, model_file):
    r = bench(model_file, print_limit=16)
    assert [o.compared for o in r.outputs] == ["crc32"] and r.bit_exact


# ------------------------------------------------------------------ errors

def test_outputs_that_differ_are_reported_and_fail_the_command(results, model_file, monkeypatch, capsys):
    from te_openmv.targets import host_build
    real_run = host_build.HostModel.run

    def wrong_run(self, inputs, raw_outputs=False):
        outs = real_run(self, inputs, raw_outputs)
        outs[0].reshape(-1)[5] ^= 1
        return outs
    monkeypatch.setattr(host_build.HostModel, "run", wrong_run)
    r = bench(model_file)
    assert not r.bit_exact and not r.ok
    assert r.outputs[0].differing_bytes == 1 and r.outputs[0].first_difference == 5
    assert r.as_dict()["bit_exact"] is False
    assert main(["bench", str(model_file)]) == 1
    captured = capsys.readouterr()
    assert "bit-exact: NO" in captured.out and "DIFFERENT (1 bytes, first at 5)" in captured.out
    assert "differ from the host reference" in captured.err


def test_missing_toolchain_is_a_clear_error(model_file, monkeypatch, capsys):
    from te_openmv.targets import toolchain

    def missing():
        raise toolchain.ToolchainError("arm-none-eabi-gcc not found on PATH after installing gcc-arm-none-eabi")
    monkeypatch.setattr(toolchain, "arm_gcc", missing)
    with pytest.raises(BenchSetupError, match="needs arm-none-eabi-gcc and qemu-system-arm.*not found"):
        bench(model_file)
    assert main(["bench", str(model_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("te-openmv: error: benchmarking needs") and "Traceback" not in err


def test_model_that_does_not_compile(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    assert main(["bench", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("te-openmv: error:") and "Traceback" not in err
    assert main(["bench", str(tmp_path / "missing.tflite")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_arguments(model_file, tmp_path):
    with pytest.raises(BenchSetupError, match="--kernels must be one of dsp, portable"):
        bench(model_file, kernels="neon")
    with pytest.raises(BenchSetupError, match="no such image file"):
        bench(model_file, image=tmp_path / "nope.png")


# ------------------------------------------------------------------ harness: stack of one stretch

def test_stack_mark_measures_one_stretch(arm_toolchain, tmp_path):
    src = tmp_path / "stack_mark.c"
    src.write_text(r'''#include "te_bench.h"
__attribute__((noipa)) static uint32_t use(uint32_t n) {
    volatile uint8_t buf[4096];
    for (uint32_t i = 0; i < n; i++) buf[i] = (uint8_t)i;
    return buf[n - 1];
}
__attribute__((noipa)) static uint32_t use_small(void) {
    volatile uint8_t buf[256];
    for (uint32_t i = 0; i < 256; i++) buf[i] = (uint8_t)i;
    return buf[7];
}
int te_bench_main(void) {
    te_bench_stack_mark();
    use(4096);
    te_bench_kv_u32("big", te_bench_stack_since_mark());
    te_bench_stack_mark();
    use_small();
    te_bench_kv_u32("small", te_bench_stack_since_mark());
    te_bench_stack_mark();
    te_bench_kv_u32("nothing", te_bench_stack_since_mark());
    return 0;
}
''')
    run = harness.run_elf(harness.build_elf([src], [], tmp_path / "stack_mark.elf"))
    assert 4096 <= run.value_int("big") < 4096 + 64
    assert 256 <= run.value_int("small") < 256 + 64  # the repaint forgets the earlier, deeper use
    assert run.value_int("nothing") == 0
    assert run.stack_used_bytes >= 4096  # ... but the overall high-water mark does not


# ------------------------------------------------------------------ a shared model

def test_shared_person_detect_on_the_device(arm_toolchain):
    model = shared_model("omv_person_detect")
    if not model.is_file():
        pytest.skip(f"shared model not found at {model}")
    r = bench(model)
    report = compile_model(model.read_bytes(), "omv_person_detect", model.name).report
    assert r.bit_exact and r.repeatable and r.status == 0
    assert [(o.type, o.macs) for o in r.ops] == [(o["type"], o["macs"]) for o in report["ops"]]
    assert r.macs == report["macs"] > 7_000_000
    assert 0 <= r.outside_ops < 40 and all(o.instructions > 0 for o in r.ops)
    assert r.sram["arena_bytes"] == report["peak_sram_bytes"]
    assert r.flash["model_const_bytes"] == report["weights_bytes"] > 200_000
