"""`te-openmv compile`: what it writes, and the generated-C contract."""
from __future__ import annotations

import json
import subprocess

import numpy as np
from PIL import Image

from te_openmv.codegen.compiler import compile_model, write_outputs
from te_openmv import KERNELS_DIR, KERNELS_INCLUDE
from te_openmv.commands.cli import main

from .support.modelgen import ModelBuilder


def small_model(seed: int = 0) -> bytes:
    """conv 3x3 -> conv 1x1, enough to exercise planning and emission."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.tensor([1, 12, 10, 3], "int8", scale=0.02, zero_point=-4)
    w1 = b.tensor([8, 3, 3, 3], "int8", data=rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8),
                  scale=list(rng.uniform(0.002, 0.01, 8)), zero_point=[0] * 8)
    b1 = b.tensor([8], "int32", data=rng.integers(-500, 500, 8).astype(np.int32),
                  scale=[0.0001] * 8, zero_point=[0] * 8)
    h = b.tensor([1, 6, 5, 8], "int8", scale=0.05, zero_point=-128, name="block1/conv;block1/relu6")
    w2 = b.tensor([4, 1, 1, 8], "int8", data=rng.integers(-127, 128, (4, 1, 1, 8)).astype(np.int8),
                  scale=[0.01] * 4, zero_point=[0] * 4)
    b2 = b.tensor([4], "int32", data=rng.integers(-500, 500, 4).astype(np.int32), scale=[0.0005] * 4,
                  zero_point=[0] * 4)
    y = b.tensor([1, 6, 5, 4], "int8", scale=0.1, zero_point=2)
    b.op("CONV_2D", [x, w1, b1], [h], padding="SAME", stride_h=2, stride_w=2, fused_activation="RELU6")
    b.op("CONV_2D", [h, w2, b2], [y], padding="VALID", stride_h=1, stride_w=1, fused_activation="NONE")
    return b.build([x], [y])


def test_compile_writes_sources_report_and_picture(tmp_path):
    model = tmp_path / "tiny net.tflite"
    model.write_bytes(small_model())
    out = tmp_path / "out"
    assert main(["compile", str(model), "-o", str(out), "--name", "tiny"]) == 0
    for suffix in (".c", ".h", ".json", "_memory.png"):
        assert (out / f"tiny{suffix}").is_file()
    report = json.loads((out / "tiny.json").read_text())
    assert report["macs"] == 6 * 5 * 8 * 27 + 6 * 5 * 4 * 8
    assert report["weights_bytes"] >= 8 * 27 + 4 * 8 + 12 * 4
    assert report["peak_sram_bytes"] >= report["lower_bound_bytes"] > 0
    ops = report["ops"]
    assert [o["type"] for o in ops] == ["CONV_2D", "CONV_2D"]
    assert ops[0]["inputs"][0]["shape"] == [1, 12, 10, 3] and ops[0]["outputs"][0]["shape"] == [1, 6, 5, 8]
    assert ops[1]["inputs"][0]["offset"] == ops[0]["outputs"][0]["offset"]
    # op 0 reads the model input while it writes its output: the two share bytes only where the
    # report says op 0 consumes its input ahead of its output by the declared distance
    a, h = ops[0]["inputs"][0], ops[0]["outputs"][0]
    if not (a["offset"] + a["bytes"] <= h["offset"] or h["offset"] + h["bytes"] <= a["offset"]):
        ov = ops[0]["overlap"]
        assert ov["used"] and a["offset"] - h["offset"] >= ov["distance"], ov
    png = Image.open(out / "tiny_memory.png")
    assert png.size[0] >= 800 and len(png.convert("RGB").getcolors(1 << 16)) > 3
    c_source = (out / "tiny.c").read_text()
    # each call says where it came from: the TFLite operator and its output tensor (the first
    # of TFLite's ';'-joined layer names), then shapes, arena offsets and MACs
    assert '/* op 0: CONV_2D (tflite op 0) 1x12x10x3 -> 1x6x5x8 "block1/conv"; in @' in c_source
    assert '/* op 1: CONV_2D (tflite op 1) 1x6x5x8 -> 1x6x5x4 "t' in c_source
    assert "/* scratch, " in c_source  # the im2col scratch argument is labelled


def test_two_models_link_into_one_program_without_clashes(tmp_path):
    """Every symbol is prefixed: two compiled models build and link together."""
    names, kernels = [], set()
    for i, name in enumerate(("first", "second")):
        c = compile_model(small_model(seed=i), name)
        write_outputs(c, tmp_path, picture=False)
        names.append(name)
        kernels |= {str(KERNELS_DIR / k) for k in c.emitted.kernel_files}  # the files its kernels need
    main_c = tmp_path / "main.c"
    main_c.write_text(
        '#include <stdio.h>\n#include "first.h"\n#include "second.h"\n'
        "static uint8_t a[FIRST_ARENA_BYTES] __attribute__((aligned(8)));\n"
        "static uint8_t b[SECOND_ARENA_BYTES] __attribute__((aligned(8)));\n"
        "int main(void) { int r = first_model.invoke(&first_model, a) | second_model.invoke(&second_model, b);\n"
        '  printf("%s %s %d\\n", first_model.name, second_model.name, r); return r; }\n')
    exe = tmp_path / "both"
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", f"-I{KERNELS_INCLUDE}", f"-I{tmp_path}",
                    str(tmp_path / "first.c"), str(tmp_path / "second.c"), *sorted(kernels),
                    str(main_c), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.strip() == "first second 0"
    # symbols of a model object: all start with the model's name
    obj = tmp_path / "first.o"
    subprocess.run(["gcc", "-c", f"-I{KERNELS_INCLUDE}", f"-I{tmp_path}", str(tmp_path / "first.c"), "-o", str(obj)],
                   check=True)
    nm = subprocess.run(["nm", "--defined-only", str(obj)], capture_output=True, text=True, check=True).stdout
    symbols = [line.split()[-1] for line in nm.splitlines() if line.strip()]
    assert symbols and all(s.startswith("first_") for s in symbols), symbols


def test_generated_code_uses_no_heap_and_no_writable_globals(tmp_path):
    c = compile_model(small_model(), "tiny")
    write_outputs(c, tmp_path, picture=False)
    obj = tmp_path / "tiny.o"
    # -fno-pie as on a microcontroller: PIE would move const pointer tables into .data.rel.ro
    subprocess.run(["gcc", "-c", "-O2", "-fno-pie", f"-I{KERNELS_INCLUDE}", f"-I{tmp_path}", str(tmp_path / "tiny.c"),
                    "-o", str(obj)], check=True)
    nm = subprocess.run(["nm", str(obj)], capture_output=True, text=True, check=True).stdout
    kinds = {line.split()[-2] for line in nm.splitlines() if len(line.split()) >= 2}
    assert not kinds & {"D", "d", "B", "b", "C"}, f"writable data in the model object: {nm}"
    undefined = [line.split()[-1] for line in nm.splitlines() if line.split()[0] == "U"]
    assert not any(u in ("malloc", "calloc", "realloc", "free") for u in undefined), undefined


def test_memory_picture_colours_buffers_by_role_with_a_legend_and_labelled_axes(tmp_path):
    """NAME_memory.png: the model's input and output drawn in their legend colours inside the
    plot, a legend swatch for each under the title, tick marks on the address axis at round
    values, and the axis titles written (the rotated y title in the left margin)."""
    from te_openmv.codegen import report as rp
    model = tmp_path / "tiny.tflite"
    model.write_bytes(small_model())
    out = tmp_path / "out"
    assert main(["compile", str(model), "-o", str(out), "--name", "tiny"]) == 0
    px = np.asarray(Image.open(out / "tiny_memory.png").convert("RGB"))
    h, w, _ = px.shape

    def where(colour, rows):
        return np.all(px[rows] == colour, axis=-1)

    plot, legend = slice(96, h - 64), slice(30, 60)
    for colour in (rp.INPUT_COLOUR, rp.OUTPUT_COLOUR, rp.TENSOR_COLOURS[0]):
        assert where(colour, plot).sum() > 100, colour          # buffers of each role
        assert where(colour, legend).sum() >= 100, colour       # and their legend swatch (16x11)
    assert where(rp.PEAK_COLOUR, plot).any() and where(rp.PEAK_COLOUR, legend).any()
    assert (px[96:h - 64, :24] < 128).any()                      # the y-axis title
    assert (px[h - 26:h - 10, 500:900] < 128).any()              # the x-axis title
    assert rp.nice_ticks(327680) == list(range(0, 327681, 50000))
    assert rp.nice_ticks(39200) == list(range(0, 39201, 5000))
    assert rp.nice_ticks(164) == list(range(0, 165, 50)) and rp.nice_ticks(7) == list(range(0, 8))
