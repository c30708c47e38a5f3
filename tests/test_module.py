"""The `tinyengine` MicroPython module on real firmware (MicroPython's unix port and the QEMU
mps2-an500 Cortex-M7 build), `te-openmv build-firmware` (staging, board budgets, the OpenMV
paths) and `te-openmv run`.

Each firmware is built once per session (and cached across sessions by te_openmv.targets.micropython_build)
holding four models: two small ones built here (float edges; two inputs and two outputs)
and, when ../shared is present, OpenMV's person detection and FOMO face detection. Each
device boots once per module; the MicroPython scripts it runs live in tests/device/.
"""
from __future__ import annotations

import ast
import base64
import ctypes
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from te_openmv.codegen.compiler import Compiled, compile_model
from te_openmv.commands import build_firmware as bf
from te_openmv.commands.cli import main
from te_openmv.targets.host_build import HostModel, dequantize_s8, quantize_f32
from te_openmv.targets.raw_repl import boot

from .support.bitexact import random_inputs
from .support.shared import MODELS
from .support.modelgen import ModelBuilder, float_edge_model

DEVICE_SCRIPTS = Path(__file__).resolve().parent / "device"
KINDS = ["unix", "qemu"]
LEAK_CALLS = {"unix": 1000, "qemu": 200}
FLOAT_MODEL, MULTI_MODEL = "fe_net", "io2_net"
SHARED = {"person_detect": "omv_person_detect", "fomo_face": "omv_fomo_face_detection"}


# ------------------------------------------------------------------ test models




def two_io_model(seed: int = 2) -> bytes:
    """Two int8 inputs, two int8 outputs: CONV 1x1 (x) + y -> out0; MAX_POOL(out0) -> out1.
    Its arena (over 40 KB) is larger than any block the memory test leaves free (< 32 KiB)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.tensor([1, 48, 48, 4], "int8", scale=0.03, zero_point=5)
    y = b.tensor([1, 48, 48, 8], "int8", scale=0.04, zero_point=-3)
    w = b.tensor([8, 1, 1, 4], "int8", data=rng.integers(-127, 128, (8, 1, 1, 4)),
                 scale=list(rng.uniform(0.005, 0.02, 8)), zero_point=[0] * 8)
    bias = b.tensor([8], "int32", data=rng.integers(-300, 300, 8), scale=[0.0003] * 8, zero_point=[0] * 8)
    h = b.tensor([1, 48, 48, 8], "int8", scale=0.05, zero_point=-10)
    s = b.tensor([1, 48, 48, 8], "int8", scale=0.07, zero_point=2)
    m = b.tensor([1, 24, 24, 8], "int8", scale=0.07, zero_point=2)
    b.op("CONV_2D", [x, w, bias], [h], padding="VALID")
    b.op("ADD", [h, y], [s])
    b.op("MAX_POOL_2D", [s], [m], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2)
    return b.build([x, y], [s, m])


@dataclass
class FwModel:
    name: str
    path: Path
    data: bytes
    compiled: Compiled
    host: HostModel


@pytest.fixture(scope="session")
def fw_models(tmp_path_factory) -> dict[str, FwModel]:
    d = tmp_path_factory.mktemp("module-models")
    sources = {FLOAT_MODEL: float_edge_model(), MULTI_MODEL: two_io_model()}
    for name, stem in SHARED.items():
        p = MODELS / f"{stem}.tflite"
        if p.is_file():
            sources[name] = p.read_bytes()
    out = {}
    for name, data in sources.items():
        path = d / f"{name}.tflite"
        path.write_bytes(data)
        compiled = compile_model(data, name, path.name)
        out[name] = FwModel(name, path, data, compiled, HostModel(compiled))
    return out


@pytest.fixture(scope="session")
def built(fw_models, tmp_path_factory):
    """`built(kind) -> output directory` of `te-openmv build-firmware --port kind` holding all
    the test models; each kind is built once per session."""
    dirs: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in dirs:
            out = tmp_path_factory.mktemp(f"fw-{kind}")
            args = ["build-firmware", "--port", kind, "-o", str(out)]
            for m in fw_models.values():
                args += ["--model", f"{m.name}={m.path}"]
            assert main(args) == 0
            dirs[kind] = out
        return dirs[kind]

    return get


@pytest.fixture(scope="module", params=KINDS)
def device(request, built):
    with boot(bf.firmware_from(built(request.param))) as dev:
        dev.kind_name = request.param
        yield dev


def run_device(dev, script: str, preamble: str = "", timeout: float = 300.0) -> str:
    r = dev.run(preamble + (DEVICE_SCRIPTS / script).read_text(), timeout=timeout)
    assert r.ok, f"{script} raised on {dev.name}:\n{r.output}\n{r.exception}"
    return r.output


# The raw REPL takes a script a character at a time (~14 KB/s on QEMU) and slows down
# more than linearly for long ones: data goes over in base64 pieces, several scripts.
UPLOAD_PIECE = 6000


def upload(dev, var: str, blobs: list[bytes]) -> None:
    """Define `var` on the device: a list of the `blobs` as bytes objects."""
    r = dev.run(f"import binascii\n{var} = []\n_te_parts = []\n", timeout=30)
    assert r.ok, r.exception
    for blob in blobs:
        for i in range(0, max(len(blob), 1), UPLOAD_PIECE):
            piece = base64.b64encode(blob[i:i + UPLOAD_PIECE]).decode()
            r = dev.run(f"_te_parts.append(binascii.a2b_base64({piece!r}))\n", timeout=60)
            assert r.ok, r.exception
        r = dev.run(f"{var}.append(b''.join(_te_parts))\n_te_parts = []\n", timeout=30)
        assert r.ok, r.exception


def expected_outputs(m: FwModel, xs: list[np.ndarray]) -> tuple[list[bytes], list[bytes]]:
    """What predict() must return (float32 bytes) and what the arena must hold (raw bytes)."""
    floats, raw = [], []
    for t, q, y in zip(m.host.outputs, m.host.run(xs, raw_outputs=True), m.host.run(xs)):
        f = y if t.dtype == np.float32 else dequantize_s8(q, t.scale, t.zero_point)
        floats.append(np.ascontiguousarray(f, np.float32).tobytes())
        raw.append(np.ascontiguousarray(q).tobytes())
    return floats, raw


def device_inputs(m: FwModel, xs: list[np.ndarray]) -> tuple[list[bytes], list[bytes | None]]:
    """Inputs as the user passes them, and (for float edges) as the arena holds them."""
    user, arena = [], []
    for t, x in zip(m.host.inputs, xs):
        user.append(np.ascontiguousarray(x).tobytes())
        folded = t.dtype == np.float32 and t.arena_dtype != np.float32
        arena.append(quantize_f32(x, t.scale, t.zero_point).tobytes() if folded else None)
    return user, arena


# ------------------------------------------------------------------ on the device

def test_models_and_attributes(device, fw_models):
    out = run_device(device, "attributes.py")
    seen = {}
    for line in out.splitlines():
        row = ast.literal_eval(line)
        seen[row[0]] = row
    assert sorted(seen) == sorted(fw_models)
    for name, m in fw_models.items():
        (_, length, ram, macs, in_shape, in_dtype, in_scale, in_zp, out_shape, out_dtype, out_scale, out_zp,
         listed) = seen[name]
        assert listed is True
        assert (length, ram, macs) == (m.compiled.report["weights_bytes"], m.host.arena_bytes,
                                        m.compiled.report["macs"])
        for tensors, shapes, dtypes, scales, zps in ((m.host.inputs, in_shape, in_dtype, in_scale, in_zp),
                                                     (m.host.outputs, out_shape, out_dtype, out_scale, out_zp)):
            assert shapes == [t.shape for t in tensors]
            assert dtypes == [{np.int8: "b", np.uint8: "B", np.float32: "f"}[t.dtype] for t in tensors]
            assert zps == [t.zero_point for t in tensors]
            # printed by MicroPython's float repr: equal to float32 precision
            assert np.allclose(scales, [t.scale for t in tensors], rtol=1e-6, atol=0)


@pytest.fixture(scope="module")
def predict_run(device, fw_models):
    """Random inputs for every model (two sets for the small ones), the host's expected
    outputs, and what tests/device/predict.py printed for them on the device."""
    rng = np.random.default_rng(7)
    blobs, cases, expect, host_runs = [], [], {}, []

    def blob(data: bytes) -> int:
        blobs.append(data)
        return len(blobs) - 1

    for m in fw_models.values():
        for _ in range(2 if m.name in (FLOAT_MODEL, MULTI_MODEL) else 1):
            xs = random_inputs(m.host, rng)
            user, arena = device_inputs(m, xs)
            cases.append((m.name, [blob(u) for u in user], [None if a is None else blob(a) for a in arena]))
            expect.setdefault(m.name, []).append(expected_outputs(m, xs))
            host_runs.append((m, xs))
    upload(device, "BLOBS", blobs)
    out = run_device(device, "predict.py", f"CASES = {cases!r}\n")
    lines: dict[str, list[list[str]]] = {}
    for line in out.splitlines():
        tag, name, *rest = line.split()
        lines.setdefault(tag, []).append([name, *rest])
    return SimpleNamespace(expect=expect, host_runs=host_runs, lines=lines)


def _outputs(rows: list[list[str]]) -> dict[str, list[list[bytes]]]:
    """P/Z rows -> per model, per case, the outputs' bytes (base64 lines joined)."""
    parts: dict[tuple[str, int, int], bytearray] = {}
    for name, case, k, data in rows:
        parts.setdefault((name, int(case), int(k)), bytearray()).extend(base64.b64decode(data))
    out: dict[str, list[list[bytes]]] = {}
    for (name, case, k), data in sorted(parts.items()):
        cases = out.setdefault(name, [])
        if case == len(cases):
            cases.append([])
        cases[case].append(bytes(data))
    return out


def test_host_equals_the_oracle(predict_run):
    """The reference the device is held to is itself TFLite's reference kernels' output."""
    from te_openmv.reference.oracle import run_reference
    for m, xs in predict_run.host_runs:
        oracle = run_reference(m.data, xs)
        for k, o in enumerate(m.host.run(xs)):
            assert np.array_equal(o, oracle[k]), f"host differs from the oracle: {m.name} output {k}"


def test_predict_equals_host(predict_run):
    got = _outputs(predict_run.lines["P"])
    for name, runs in predict_run.expect.items():
        assert got[name] == [floats for floats, _ in runs], f"{name}: predict() differs from the host"


def test_zero_copy_equals_host(predict_run):
    got = _outputs(predict_run.lines["Z"])
    for name, runs in predict_run.expect.items():
        assert got[name] == [raw for _, raw in runs], f"{name}: input()/invoke()/output() differ from the host"


def test_every_way_of_passing_inputs_gives_the_same_outputs(predict_run, fw_models):
    variants = {}
    for name, label, verdict in predict_run.lines["V"]:
        variants.setdefault(name, {})[label] = verdict
    want = {"bytearray", "memoryview", "array", "tuple", "callable", "callback", "invoke_returns_none"}
    for name in fw_models:
        assert set(variants[name]) == want
        assert all(v == "ok" for v in variants[name].values()), (name, variants[name])


def test_models_side_by_side(predict_run, fw_models):
    """With every model's arena alive at once, interleaved predictions stay exact."""
    rows = predict_run.lines["S"]
    assert len(rows) == 2 * len(fw_models) and all(verdict == "ok" for _, verdict in rows), rows


ERRORS = {
    "unknown_model": "ValueError: no model 'no_such_model' in this firmware; compiled in: {names}",
    "model_name_not_str": "TypeError: model name must be a str, got 'int'",
    "inputs_not_list": "TypeError: inputs must be a list with one entry per model input, got 'bytes'",
    "too_few_inputs": f"ValueError: model '{MULTI_MODEL}' takes 2 input(s), got 1",
    "too_many_inputs": f"ValueError: model '{MULTI_MODEL}' takes 2 input(s), got 3",
    "no_inputs": f"ValueError: model '{FLOAT_MODEL}' takes 1 input(s), got 0",
    "short_int8_input": "ValueError: input 0: expected 9216 bytes (1x48x48x4 int8), got 100",
    "long_int8_input": "ValueError: input 1: expected 18432 bytes (1x48x48x8 int8), got 18433",
    "float_data_for_int8": "TypeError: input 0: expected int8 data (typecode 'b') or raw bytes, got typecode 'f'",
    "int8_size_for_float": "ValueError: input 0: expected 1440 bytes (1x12x10x3 float32), got 360",
    "int32_data_for_float": "TypeError: input 0: expected float32 data (typecode 'f') or raw bytes, got typecode 'i'",
    "not_a_buffer": "TypeError: input 0: expected a buffer (bytes, bytearray, array, memoryview, ndarray) "
                    "or a callable, got 'int'",
    "filler_raises": "ZeroDivisionError:",
    "callback_not_callable": "TypeError: callback must be callable, got 'int'",
    "input_index_high": f"IndexError: input index 2 out of range: model '{MULTI_MODEL}' has 2 input(s)",
    "input_index_negative": f"IndexError: input index -1 out of range: model '{MULTI_MODEL}' has 2 input(s)",
    "output_index_high": f"IndexError: output index 7 out of range: model '{MULTI_MODEL}' has 2 output(s)",
    "index_not_int": "TypeError:",
    "output_view_read_only": "TypeError:",
    "attribute_read_only": "AttributeError:",
    "str_input": "TypeError: input 0: expected a buffer (bytes, bytearray, array, memoryview, ndarray) "
                 "or a callable, got 'str'",
    "model_name_bytes": "TypeError: model name must be a str, got 'bytes'",
    "model_name_nul": "ValueError: model name contains a NUL character",
    "filler_appends": "AttributeError:",
    "filler_slice_grows": "ValueError:",
    "filler_predicts_again": f"RuntimeError: predict() of model '{MULTI_MODEL}' called from its own predict()",
    "filler_invokes": f"RuntimeError: invoke() of model '{MULTI_MODEL}' called from its own predict()",
    "callback_predicts_again": f"RuntimeError: predict() of model '{MULTI_MODEL}' called from its own predict()",
}


def test_errors_raise_the_stated_exception(device, fw_models):
    sizes = [t.nbytes for t in fw_models[MULTI_MODEL].host.inputs]
    out = run_device(device, "errors.py", f"FLOAT_MODEL = {FLOAT_MODEL!r}\nMULTI_MODEL = {MULTI_MODEL!r}\n"
                                          f"GOOD_SIZES = {sizes!r}\n")
    lines = dict(line[2:].split(" ", 1) for line in out.splitlines() if line.startswith("E "))
    names = ", ".join(f"'{n}'" for n in fw_models)
    assert sorted(lines) == sorted(ERRORS)
    for case, want in ERRORS.items():
        assert lines[case].startswith(want.format(names=names)), f"{case}: {lines[case]}"
    assert "alive OK" in out


def test_predict_does_not_leak(device, fw_models):
    m = fw_models[FLOAT_MODEL]
    user, _ = device_inputs(m, random_inputs(m.host, np.random.default_rng(3)))
    upload(device, "LEAK_INPUTS", user)
    n = LEAK_CALLS[device.kind_name]
    out = run_device(device, "leak.py", f"LEAK_MODEL = {m.name!r}\nN = {n}\n")
    short, long = (int(v) for v in out.split("leak ", 1)[1].split("\n", 1)[0].split())
    # 2N more calls may not cost more heap: even one byte lost per call would show as 2N
    assert long - short < n, f"gc.mem_free() fell by {short} B over {n} predict() calls, {long} B over {3 * n}: {out}"
    assert "outputs_equal True" in out


FUZZ_CALLS = {"unix": 3000, "qemu": 300}


def test_random_calls_leave_the_heap_and_the_results_intact(device, fw_models):
    """Random argument types and sizes, fillers that grow, keep or re-enter, callbacks that
    re-enter or raise, bad names: every call ends in a result or an exception; afterwards the
    heap holds what it held before, but for a few stale blocks (the same calls were made once to warm up) and the
    model still computes the host's outputs."""
    m = fw_models[FLOAT_MODEL]
    xs = random_inputs(m.host, np.random.default_rng(11))
    user, _ = device_inputs(m, xs)
    floats, _ = expected_outputs(m, xs)
    upload(device, "FUZZ_IN", user)
    n = FUZZ_CALLS[device.kind_name]
    out = run_device(device, "fuzz_module.py", f"FLOAT_MODEL = {FLOAT_MODEL!r}\nMULTI_MODEL = {MULTI_MODEL!r}\n"
                     f"SEED = 16\nN = {n}\nGOOD_F = FUZZ_IN[0]\nEXPECT_F = {floats!r}\n")
    lines = dict(line.split(" ", 1) for line in out.splitlines() if line.split(" ", 1)[0] in
                 ("kinds", "heap", "result_ok"))
    kinds = dict(ast.literal_eval(lines["kinds"]))
    assert sum(kinds.values()) == n and kinds.get("ok", 0) > 0
    assert {"TypeError", "ValueError", "RuntimeError"} <= set(kinds), kinds
    # the collector is conservative: a pass can end holding a few stale blocks (a bare
    # MicroPython loop does too); a leak in any call kind would cost at least a byte a call
    assert int(lines["heap"]) < n, f"the second pass of {n} random calls left {lines['heap']} bytes on the heap"
    assert lines["result_ok"] == "True"


def test_arena_that_does_not_fit_is_a_memory_error(device, fw_models):
    m = fw_models[MULTI_MODEL]
    out = run_device(device, "memory.py", f"BIG_MODEL = {m.name!r}\n")
    assert (f"E MemoryError: model '{m.name}' needs an arena of {m.host.arena_bytes} bytes; "
            f"the largest free heap block is ") in out
    assert "after OK" in out


def test_shared_models_are_in_the_firmware(fw_models):
    missing = [stem for stem in SHARED.values() if not (MODELS / f"{stem}.tflite").is_file()]
    if missing:
        pytest.skip(f"shared models not found in {MODELS}: {', '.join(missing)}")
    assert set(SHARED) <= set(fw_models)


# ------------------------------------------------------------------ te-openmv run

def test_run_command_streams_output_and_reports_exceptions(built, tmp_path, capsys):
    out = built("unix")
    ok = tmp_path / "ok.py"
    ok.write_text("import tinyengine\nprint(sorted(tinyengine.models()))\nprint('done')\n")
    assert main(["run", str(out), str(ok)]) == 0
    printed = capsys.readouterr()
    assert printed.out.endswith("done\n") and FLOAT_MODEL in printed.out
    bad = tmp_path / "bad.py"
    bad.write_text("print('before')\nimport tinyengine\ntinyengine.Model('nope')\n")
    assert main(["run", str(out), str(bad)]) == 1
    printed = capsys.readouterr()
    assert printed.out == "before\n"
    assert "ValueError: no model 'nope'" in printed.err
    slow = tmp_path / "slow.py"
    slow.write_text("print('start')\nwhile True:\n    pass\n")
    assert main(["run", str(out), str(slow), "--timeout", "2"]) == 3
    printed = capsys.readouterr()
    assert printed.out == "start\n" and "did not finish within 2 s" in printed.err


def test_run_command_on_qemu(built, tmp_path, capsys):
    script = tmp_path / "s.py"
    script.write_text("import sys, tinyengine\nprint(sys.platform, len(tinyengine.models()))\n")
    assert main(["run", str(built("qemu")), str(script)]) == 0
    assert capsys.readouterr().out.startswith("qemu ")


def test_run_command_errors(tmp_path, capsys):
    assert main(["run", str(tmp_path), str(tmp_path / "x.py")]) == 2
    assert "cannot read script" in capsys.readouterr().err
    (tmp_path / "x.py").write_text("print(1)\n")
    assert main(["run", str(tmp_path), str(tmp_path / "x.py")]) == 2
    assert "no firmware.json" in capsys.readouterr().err
    (tmp_path / "firmware.json").write_text(json.dumps({"port": "openmv", "firmware": "firmware.bin"}))
    assert main(["run", str(tmp_path), str(tmp_path / "x.py")]) == 2
    assert "flash firmware.bin onto the camera" in capsys.readouterr().err


# ------------------------------------------------------------------ staging

def test_staging_holds_the_module_models_and_only_the_kernels_used(tmp_path):
    a = compile_model(float_edge_model(), "a")
    b = compile_model(two_io_model(), "b")
    mod = bf.stage_module([a, b], tmp_path / "staging")
    assert mod == tmp_path / "staging" / "tinyengine"
    kernels = sorted(p.name for p in (mod / "kernels").iterdir())
    assert kernels == sorted(set(a.emitted.kernel_files) | set(b.emitted.kernel_files) | {"quantize.c"})
    assert not [k for k in kernels if k.startswith("depthwise")]  # neither model has a depthwise layer
    assert sorted(p.name for p in (mod / "models").iterdir()) == ["a.c", "a.h", "b.c", "b.h"]
    assert (mod / "include" / "te_kernels.h").is_file() and (mod / "include" / "te_model.h").is_file()
    table = (mod / "te_models.c").read_text()
    assert table.index("&a_model") < table.index("&b_model")
    assert "#define TE_OPENMV_IMAGE 0" in (mod / "te_build_config.h").read_text()
    for f in bf.MODULE_FILES:
        assert (mod / f).read_bytes() == (bf.MODULE_SRC / f).read_bytes()
    # staging again replaces the folder: nothing stale survives
    bf.stage_module([a], tmp_path / "staging", openmv=True)
    assert sorted(p.name for p in (mod / "models").iterdir()) == ["a.c", "a.h"]
    assert "#define TE_OPENMV_IMAGE 1" in (mod / "te_build_config.h").read_text()


def test_build_firmware_argument_errors(tmp_path, capsys):
    model = tmp_path / "m.tflite"
    model.write_bytes(float_edge_model())
    assert main(["build-firmware", "--model", f"a={tmp_path / 'nope.tflite'}", "--port", "unix",
                 "-o", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["build-firmware", "--model", f"a={model}", "--model", f"a={model}", "--port", "unix",
                 "-o", str(tmp_path / "o")]) == 2
    assert "repeated: a" in capsys.readouterr().err
    assert main(["build-firmware", "--model", f"1a={model}", "--port", "unix", "-o", str(tmp_path / "o")]) == 2
    assert "must be a C identifier" in capsys.readouterr().err
    assert main(["build-firmware", "--model", f"a={model}", "--port", "qemu", "--board", "OPENMV4",
                 "-o", str(tmp_path / "o")]) == 2
    assert "apply to --port openmv only" in capsys.readouterr().err
    assert main(["build-firmware", "--model", f"a={model}", "--port", "openmv", "--board", "OPENMV4",
                 "-o", str(tmp_path / "o")]) == 2
    assert "needs --source" in capsys.readouterr().err
    assert bf.parse_model_arg(str(model)).name == "m"


# ------------------------------------------------------------------ budgets

def _fake(name: str, arena: int, weights: int):
    return SimpleNamespace(name=name, report={"peak_sram_bytes": arena, "weights_bytes": weights})


def test_budget_refuses_models_that_do_not_fit():
    assert bf.board_budget("openmv", "OPENMV4").flash_bytes is None  # no checkout: unknown, never estimated
    b = bf.board_budget("openmv", "OPENMV4", stock_flash=1_200_000)
    assert b.flash_bytes == 1664 * 1024 - 1_200_000 and "measured" in b.flash_source
    assert b.arena_bytes == 480 * 1024 - 320 * 240  # OMV_FB_SIZE + OMV_FB_ALLOC_SIZE - a QVGA frame
    assert bf.check_budget([_fake("small", 100_000, 300_000)], b) == []
    with pytest.raises(bf.BoardFitError) as e:
        bf.check_budget([_fake("big", 500_000, 600_000), _fake("wide", 90_000, 300_000)], b)
    msg = str(e.value)
    need = 900_000
    assert f"weights need {need:,} B" in msg and f"the budget is {b.flash_bytes:,} B" in msg
    assert f"{need - b.flash_bytes:,} B" in msg and "OMV_FLASH_TXT_LENGTH" in msg
    assert f"big needs an arena of 500,000 B" in msg and f"{500_000 - b.arena_bytes:,} B" in msg
    assert "wide needs" not in msg
    # fits one at a time, not all at once: a note, not a refusal
    notes = bf.check_budget([_fake("a", 300_000, 1000), _fake("b", 300_000, 1000)], b)
    assert len(notes) == 1 and "one at a time" in notes[0]


def test_qemu_budget_comes_from_the_board_files():
    b = bf.board_budget("qemu")
    assert b.arena_bytes == 2621440 - bf.HEAP_RESERVE and "MICROPY_HEAP_SIZE" in b.arena_source
    assert b.flash_bytes == 4 * 1024 * 1024 - bf.QEMU_BASE_FIRMWARE
    with pytest.raises(bf.BoardFitError, match="RAM: huge needs an arena"):
        bf.check_budget([_fake("huge", 3_000_000, 10)], b)


def test_board_config_of_a_checkout_is_read(tmp_path):
    h = tmp_path / "board_config.h"
    h.write_text("#define OMV_FLASH_TXT_LENGTH                  1664K\n"
                 "#define OMV_GC_BLOCK1_SIZE                    (264K)\n"
                 "#define OMV_UMA_BLOCK0_SIZE                   (480K)\n"
                 "#define OMV_FLASH_TXT_ORIGIN                  0x08040000\n"
                 "#define OMV_BOARD_TYPE                        \"H7\"\n")
    cfg = bf.read_board_config(h)
    assert cfg["OMV_FLASH_TXT_LENGTH"] == 1664 * 1024 and cfg["OMV_UMA_BLOCK0_SIZE"] == 480 * 1024
    assert "OMV_BOARD_TYPE" not in cfg
    b = bf.board_budget("openmv", "X", cfg, "boards/X/board_config.h")
    assert b.arena_bytes == 480 * 1024 - 320 * 240 and "OMV_UMA_BLOCK0_SIZE" in b.arena_source
    with pytest.raises(bf.BuildFirmwareError, match="no memory figures for OpenMV board 'NOPE'"):
        bf.board_budget("openmv", "NOPE")


# ------------------------------------------------------------------ OpenMV builds
# are tested in test_openmv_build.py (stand-in checkouts) and test_openmv_firmware.py (a real one).


# ------------------------------------------------------------------ image -> tensor

@pytest.fixture(scope="module")
def te_image(tmp_path_factory):
    d = tmp_path_factory.mktemp("te_image")
    lib = d / "libte_image.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-std=c11", "-Wall", "-Werror",
                    str(bf.MODULE_SRC / "te_image.c"), "-o", str(lib)], check=True)
    so = ctypes.CDLL(str(lib))
    so.te_image_to_tensor.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                      ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def draw(pixels: np.ndarray, fmt: int, h: int, w: int, c: int, signed: bool):
        pixels = np.ascontiguousarray(pixels)
        out = np.zeros((h, w, c), np.int8 if signed else np.uint8)
        rc = so.te_image_to_tensor(pixels.ctypes.data, pixels.shape[1], pixels.shape[0], fmt,
                                   out.ctypes.data, h, w, c, int(signed))
        return rc, out

    return draw


GRAY8, RGB565 = 0, 1


def test_image_rule_identity_and_channels(te_image):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    rc, q = te_image(gray, GRAY8, 7, 9, 1, True)
    assert rc == 0 and np.array_equal(q[..., 0], (gray.astype(np.int16) - 128).astype(np.int8))
    rc, u = te_image(gray, GRAY8, 7, 9, 3, False)
    assert rc == 0 and all(np.array_equal(u[..., k], gray) for k in range(3))
    # RGB565: bit replication to 8 bits; white is 255, pure red is (255, 0, 0)
    px = np.array([[0xFFFF, 0xF800, 0x07E0, 0x001F, 0x0000, 0x8410]], np.uint16)
    rc, rgb = te_image(px, RGB565, 1, 6, 3, False)
    assert rc == 0 and rgb[0].tolist() == [[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0],
                                           [132, 130, 132]]
    rc, g = te_image(px, RGB565, 1, 6, 1, False)
    assert g[0, :, 0].tolist() == [255, 38 * 255 >> 7, 75 * 255 >> 7, 15 * 255 >> 7, 0,
                                   (38 * 132 + 75 * 130 + 15 * 132) >> 7]


def test_image_rule_scaling_samples_pixel_centres(te_image):
    src = np.arange(8 * 6, dtype=np.uint8).reshape(6, 8) * 5
    rc, half = te_image(src, GRAY8, 3, 4, 1, False)
    assert rc == 0 and np.array_equal(half[..., 0], src[1::2, 1::2])  # 2x down: the odd pixels
    rc, double = te_image(src[:2, :2], GRAY8, 4, 4, 1, False)
    assert np.array_equal(double[..., 0], np.repeat(np.repeat(src[:2, :2], 2, 0), 2, 1))
    assert te_image(src, GRAY8, 3, 4, 2, False)[0] == -1  # channels other than 1 or 3
    assert te_image(src, GRAY8, 0, 4, 1, False)[0] == -2


def test_image_rule_matches_host_preprocessing_at_model_size(te_image, tmp_path):
    """An image already at the input's size gives the device the q the host feeds the model."""
    from PIL import Image

    from te_openmv.reference.preprocess import image_to_input
    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    path = tmp_path / "g.png"
    Image.fromarray(gray, "L").save(path)
    _, q = te_image(gray, GRAY8, 12, 10, 1, True)
    assert np.array_equal(image_to_input(path, (1, 12, 10, 1), np.int8, 0.02, -4)[0], q)
    # a folded float input: the host's float quantizes back to the device's q
    x = image_to_input(path, (1, 12, 10, 1), np.float32, 0.02, -4)
    assert np.array_equal(quantize_f32(x, 0.02, -4)[0], q)
