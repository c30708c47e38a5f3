"""Compiled models as MicroPython native modules (`te-openmv compile --mpy`) on stock firmware.

The flow under test is the user's: `compile MODEL --mpy -o OUT`, `build-firmware --port qemu
-o FW` (no tinyengine module), `deploy OUT ... --port qemu:FW`, then a script that imports
NAME from /rom and calls NAME.Model('/rom/NAME.bin'). On the QEMU Cortex-M7 every shared
model must be bit-exact with TFLite (random bytes and the shared images), import with less
than 32 KB of heap (the arena aside) and run within 1% of the instructions of the built-in
`tinyengine` module. The x64 build runs the same checks fast on the unix port. Bad weights,
another arch and another MicroPython version must fail with the messages users need.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from te_openmv.codegen.compiler import Compiled, compile_model
from te_openmv.commands import deploy as dp
from te_openmv.commands.build_firmware import firmware_from
from te_openmv.commands.cli import main
from te_openmv.reference.preprocess import image_files, image_to_input
from te_openmv.targets import mpy_boards, romfs, toolchain, weights_file
from te_openmv.targets.host_build import HostModel, dequantize_s8
from te_openmv.targets.raw_repl import boot

from .support.bitexact import random_inputs
from .support.shared import SHARED_MODELS, MODELS, IMAGES

HEAP_LIMIT = 32 * 1024
INSTRUCTION_TOLERANCE = 0.01


# ------------------------------------------------------------------ fast: formats and rules

def test_romfs_image_aligns_every_file_and_reads_back():
    rng = np.random.default_rng(0)
    files = [(f"f{i}.bin", rng.integers(0, 256, int(n), dtype=np.uint8).tobytes())
             for i, n in enumerate([1, 7, 300, 5000, 64, 129])]
    for align in (4, 8, 32, 64):
        image, placed = romfs.build_image(files, align)
        assert len(image) % 2 == 0
        assert all(p.offset % align == 0 for p in placed)
        assert {p.name: image[p.offset:p.offset + p.size] for p in placed} == dict(files)
        assert romfs.read_image(image) == dict(files)
    with pytest.raises(ValueError, match="power of two"):
        romfs.build_image(files, 12)
    with pytest.raises(ValueError, match="duplicate"):
        romfs.build_image(files + files[:1])


def test_weights_file_round_trip_and_errors():
    blob = bytes(range(256)) * 3
    h = weights_file.build_hash("int x;", blob)
    data = weights_file.pack("person", blob, h)
    hdr = weights_file.parse(data)
    assert (hdr.name, hdr.payload_bytes, hdr.build_hash) == ("person", len(blob), h)
    assert len(data) == weights_file.HEADER_BYTES + len(blob)
    with pytest.raises(ValueError, match="not a te-openmv weights file"):
        weights_file.parse(b"XXXX" + data[4:])
    with pytest.raises(ValueError, match="corrupted"):
        weights_file.parse(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ValueError, match=f"expected {len(data)} bytes"):
        weights_file.parse(data[:-8])
    with pytest.raises(ValueError, match="64-byte header"):
        weights_file.parse(data[:10])
    assert weights_file.build_hash("int y;", blob) != h


def test_arch_rule_is_micropythons():
    assert dp.arch_runs_on("armv7emdp", "armv7emdp")
    assert dp.arch_runs_on("armv7m", "armv7emdp") and dp.arch_runs_on("armv7emsp", "armv7emdp")
    assert not dp.arch_runs_on("armv7emdp", "armv7emsp")
    assert not dp.arch_runs_on("x64", "armv7emdp") and not dp.arch_runs_on("armv7emdp", "x64")


def test_stub_has_the_tinyengine_model_api():
    import ast
    from te_openmv import MODULE_DIR
    from te_openmv.targets.natmod_build import stub_source

    def members(src: str) -> set[str]:
        cls = next(n for n in ast.parse(src).body if isinstance(n, ast.ClassDef) and n.name == "Model")
        return {getattr(n, "name", None) or getattr(getattr(n, "target", None), "id", None) for n in cls.body} - {None}
    stub = stub_source("person")
    assert members(stub) == members((MODULE_DIR / "tinyengine.pyi").read_text())
    assert ("def __init__(self, weights: Union[str, Buffer], postprocess: Callable[..., Any] = None) -> None" in stub
            and "person.bin" in stub)


def test_compile_mpy_argument_errors(tmp_path, capsys):
    model = MODELS / "omv_force_int_quant.tflite"
    if not model.is_file():
        pytest.skip(f"shared model {model} not found")
    assert main(["compile", str(model), "-o", str(tmp_path), "--arch", "x64"]) == 2
    assert "--arch and --board go with --mpy" in capsys.readouterr().err
    assert main(["compile", str(model), "-o", str(tmp_path), "--mpy", "--board", "NOPE"]) == 2
    assert "unknown --board 'NOPE'" in capsys.readouterr().err


def test_deploy_argument_errors(tmp_path, capsys):
    assert main(["deploy", str(tmp_path / "missing"), "--port", f"qemu:{tmp_path}"]) == 2
    assert "not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["deploy", str(tmp_path / "empty"), "--port", f"qemu:{tmp_path}"]) == 2
    assert "holds no NAME.bin" in capsys.readouterr().err


# ------------------------------------------------------------------ models and builds

@dataclass
class MpyModel:
    name: str
    data: bytes
    compiled: Compiled
    host: HostModel
    outs: dict[str, Path]     # arch -> compile --mpy output directory
    cases: list[list[np.ndarray]]

    def case_bytes(self) -> bytes:
        return b"".join(np.ascontiguousarray(x).tobytes() for xs in self.cases for x in xs)

    def input_sizes(self) -> list[int]:
        return [int(np.asarray(x).nbytes) for x in self.cases[0]]

    def expected(self) -> list[tuple[str, str]]:
        """Per case: sha256 of predict()'s float32 outputs and of the raw output tensors."""
        out = []
        for xs in self.cases:
            raw = self.host.run(xs, raw_outputs=True)
            user = self.host.run(xs)
            floats, raws = hashlib.sha256(), hashlib.sha256()
            for t, q, y in zip(self.host.outputs, raw, user):
                f = y if t.dtype == np.float32 else dequantize_s8(q, t.scale, t.zero_point)
                floats.update(np.ascontiguousarray(f, np.float32).tobytes())
                raws.update(np.ascontiguousarray(q).tobytes())
            out.append((floats.hexdigest(), raws.hexdigest()))
        return out


def _cases(name: str, data: bytes, host: HostModel) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(7)
    cases = [random_inputs(host, rng) for _ in range(2)]
    t = host.inputs[0]
    if len(host.inputs) == 1 and len(t.shape) == 4 and t.shape[-1] in (1, 3) and IMAGES.is_dir():
        cases += [[image_to_input(p, t.shape, t.dtype, t.scale, t.zero_point)] for p in image_files(IMAGES)]
    return cases


@pytest.fixture(scope="session")
def mpy_models(tmp_path_factory) -> dict[str, MpyModel]:
    """Every shared model, compiled with `te-openmv compile --mpy` for armv7emdp and x64;
    each run's expected outputs are TFLite's (checked against the oracle here)."""
    from te_openmv.reference.oracle import run_reference
    models = {}
    for stem in SHARED_MODELS:
        path = MODELS / f"{stem}.tflite"
        if not path.is_file():
            continue
        data = path.read_bytes()
        compiled = compile_model(data, stem, path.name)
        host = HostModel(compiled)
        cases = _cases(stem, data, host)
        for xs in cases:
            for k, (a, b) in enumerate(zip(host.run(xs), run_reference(data, xs))):
                assert np.array_equal(a, np.asarray(b).reshape(a.shape)), f"{stem} output {k}: host != TFLite"
        outs = {}
        for arch in ("armv7emdp", "x64"):
            out = tmp_path_factory.mktemp(f"mpy-{stem}-{arch}")
            assert main(["compile", str(path), "--mpy", "--arch", arch, "-o", str(out)]) in (0, 1)
            outs[arch] = out
        models[stem] = MpyModel(stem, data, compiled, host, outs, cases)
    if not models:
        pytest.skip(f"no shared models in {MODELS}: the tests expect ../shared/models next to the repository")
    return models


@pytest.mark.slow
def test_mpy_files_do_not_depend_on_the_output_directory(mpy_models, tmp_path):
    """The same model gives the same .mpy bytes wherever it is built (the loader names its own
    module as its source, not the output path), so ROMFS images and their sizes repeat."""
    m = mpy_models[min(mpy_models)]
    out = tmp_path / "a" / "much" / "deeper" / "output" / "directory"
    assert main(["compile", str(MODELS / f"{m.name}.tflite"), "--mpy", "--arch", "armv7emdp", "-o", str(out)]) in (0, 1)
    built = sorted(m.outs["armv7emdp"].glob("*.mpy"))
    assert len(built) == 2
    for f in built:
        assert (out / f.name).read_bytes() == f.read_bytes(), f.name


@pytest.fixture(scope="session")
def stock_fw(tmp_path_factory):
    """`te-openmv build-firmware --port KIND -o FW` without --model, once per kind and session."""
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            out = tmp_path_factory.mktemp(f"stock-{kind}")
            assert main(["build-firmware", "--port", kind, "-o", str(out)]) == 0
            built[kind] = out
        return built[kind]
    return get


DEVICE_SCRIPT = r"""
import sys, gc, hashlib, binascii
sys.path.append(ROOT)
def hx(h):
    return binascii.hexlify(h.digest()).decode()
for name, sizes, ncases in MODELS:
    gc.collect()
    f0 = gc.mem_free()
    mod = __import__(name)
    gc.collect()
    f1 = gc.mem_free()
    m = mod.Model(ROOT + '/' + name + '.bin')
    print('H', name, f0 - f1, m.ram)
    f = open(ROOT + '/' + name + '_in.bin', 'rb')
    try:
        data = memoryview(f)  # ROMFS: the file in place
    except TypeError:
        data = f.read()
    off = 0
    for c in range(ncases):
        xs = []
        for n in sizes:
            xs.append(data[off:off + n])
            off += n
        hf = hashlib.sha256()
        for o in m.predict(xs):
            hf.update(bytes(o))
        hr = hashlib.sha256()
        for k in range(len(m.output_shape)):
            hr.update(bytes(m.output(k)))
        print('P', name, c, hx(hf), hx(hr))
    del m, mod, data, xs, f
    for k in list(sys.modules):
        if k == name or k.startswith(name + '_'):
            del sys.modules[k]
    gc.collect()
"""


def _parse(output: str) -> tuple[dict[str, int], dict[str, list[tuple[str, str]]]]:
    heap, runs = {}, {}
    for line in output.splitlines():
        parts = line.split()
        if parts and parts[0] == "H":
            heap[parts[1]] = int(parts[2])
        elif parts and parts[0] == "P":
            runs.setdefault(parts[1], []).append((parts[3], parts[4]))
    return heap, runs


def _models_arg(models: dict[str, MpyModel]) -> str:
    return repr([(m.name, m.input_sizes(), len(m.cases)) for m in models.values()])


def _check_results(models: dict[str, MpyModel], output: str, where: str) -> dict[str, int]:
    heap, runs = _parse(output)
    for m in models.values():
        assert m.name in runs, f"{m.name} printed nothing on {where}:\n{output[-2000:]}"
        exp = m.expected()
        for c, (got, want) in enumerate(zip(runs[m.name], exp)):
            assert got[1] == want[1], f"{m.name} case {c} on {where}: output tensors differ from TFLite"
            assert got[0] == want[0], f"{m.name} case {c} on {where}: predict() floats differ from TFLite's, dequantized"
        assert len(runs[m.name]) == len(exp)
    return heap


# ------------------------------------------------------------------ unix port, x64 (fast to run)

@pytest.mark.slow
def test_x64_mpy_on_the_unix_port_is_bit_exact(mpy_models, stock_fw, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for m in mpy_models.values():
        for p in m.outs["x64"].iterdir():
            if p.suffix in (".mpy", ".bin"):
                (root / p.name).write_bytes(p.read_bytes())
        (root / f"{m.name}_in.bin").write_bytes(m.case_bytes())
    with boot(firmware_from(stock_fw("unix"))) as dev:
        assert dev.run("import tinyengine", timeout=20).exception_name == "ImportError"  # stock: no module
        r = dev.run(f"ROOT = {str(root)!r}\nMODELS = {_models_arg(mpy_models)}\n" + DEVICE_SCRIPT, timeout=600)
    assert r.ok, r.exception
    _check_results(mpy_models, r.output, "the unix port")


BINDING_SCRIPT = """
import sys
sys.path.append(ROOT)
mod = __import__(NAME)
data = open(ROOT + '/' + NAME + '_in.bin', 'rb').read()[:SIZE]
m = mod.Model(ROOT + '/' + NAME + '.bin')
def grow(buf, shape, dtype):
    buf[:] = data
    try:
        buf.append(0)
        print('G grew')
    except Exception as e:
        print('G', type(e).__name__)
m.predict([grow])
for bad in ('x' * SIZE, 5):
    try:
        m.predict([bad])
        print('S accepted')
    except TypeError:
        print('S TypeError')
floats = m.predict([data])[0]
raw = m.predict([data], callback=lambda model, inputs, outputs: bytes(outputs[0]))
print('R', raw.hex())
post = mod.Model(ROOT + '/' + NAME + '.bin', postprocess=lambda model, inputs, outputs: len(outputs))
print('P', post.predict([data]), post.postprocess is not None)
try:
    mod.Model(ROOT + '/' + NAME + '.bin', postprocess=3)
except TypeError:
    print('C TypeError')
def again(call):
    def filler(buf, shape, dtype):
        call()
    return filler
nested = {'F': again(lambda: m.predict([data])), 'I': again(m.invoke)}
for key, filler in nested.items():
    try:
        m.predict([filler])
        print(key, 'ran')
    except RuntimeError as e:
        print(key, e)
try:
    m.predict([data], callback=lambda model, inputs, outputs: m.predict([data]))
    print('B ran')
except RuntimeError as e:
    print('B', e)
def boom(buf, shape, dtype):
    raise OSError('camera gone')
try:
    m.predict([boom])
except OSError as e:
    print('X', e)
print('A', list(m.predict([data])[0]) == list(floats))
"""


@pytest.mark.slow
def test_x64_binding_is_safe_and_calls_back_like_ml(mpy_models, stock_fw, tmp_path):
    """The .mpy's Model as tinyengine.Model: a filler gets a buffer it cannot grow over the arena,
    str inputs are refused, a callback or postprocess gets the raw output tensors, and the model
    refuses to run from its own filler or callback."""
    m = next(m for m in mpy_models.values() if len(m.cases[0]) == 1)  # one input: the filler fills it
    root = tmp_path / "root"
    root.mkdir()
    for p in m.outs["x64"].iterdir():
        if p.suffix in (".mpy", ".bin"):
            (root / p.name).write_bytes(p.read_bytes())
    (root / f"{m.name}_in.bin").write_bytes(m.case_bytes())
    size = m.input_sizes()[0]
    with boot(firmware_from(stock_fw("unix"))) as dev:
        r = dev.run(f"ROOT = {str(root)!r}\nNAME = {m.name!r}\nSIZE = {size}\n" + BINDING_SCRIPT, timeout=120)
    assert r.ok, r.exception
    lines = dict((ln.split(" ", 1) + [""])[:2] for ln in r.output.splitlines() if ln[:2] in ("G ", "R ", "P ", "C ", "A "))
    assert lines["G"] != "grew", r.output
    assert r.output.count("S TypeError") == 2, r.output
    want = m.host.run(m.cases[0], raw_outputs=True)[0].tobytes().hex()
    assert lines["R"] == want, "the callback's raw outputs differ from the model's int8 outputs"
    assert lines["P"] == f"{len(m.host.outputs)} True", r.output
    assert lines["C"] == "TypeError", r.output
    # running the model from its own filler or callback is refused, as tinyengine.Model does; an
    # exception from a filler leaves predict() in order (the next call works and agrees)
    for key, what in (("F", "predict"), ("I", "invoke"), ("B", "predict")):
        assert r.output.count(f"{key} {what}() of model '{m.name}' called from its own predict()") == 1, r.output
    assert "X camera gone" in r.output and lines["A"] == "True", r.output


# ------------------------------------------------------------------ QEMU, armv7emdp from ROMFS

@pytest.fixture(scope="session")
def deployed(mpy_models, stock_fw):
    """The stock QEMU firmware with every model deployed (`te-openmv deploy ... --port qemu:FW`),
    plus each model's test inputs added to the same image."""
    fw = stock_fw("qemu")
    outs = [str(m.outs["armv7emdp"]) for m in mpy_models.values()]
    assert main(["deploy", *outs, "--port", f"qemu:{fw}"]) == 0
    # the inputs go into the image too (the UART is far too slow for them)
    files = dp.collect([m.outs["armv7emdp"] for m in mpy_models.values()], "armv7emdp")
    files += [(f"{m.name}_in.bin", m.case_bytes()) for m in mpy_models.values()]
    image, placed = romfs.build_image(files)
    (fw / dp.ROMFS_IMAGE).write_bytes(image)
    info = json.loads((fw / dp.ROMFS_MANIFEST).read_text())
    info["bytes"] = len(image)
    (fw / dp.ROMFS_MANIFEST).write_text(json.dumps(info))
    return fw


@pytest.fixture(scope="session")
def qemu_run(mpy_models, deployed):
    """Every model imported from /rom and run on every case, in one QEMU session."""
    with boot(firmware_from(deployed), memory_images=dp.memory_images(deployed)) as dev:
        assert dev.run("import tinyengine", timeout=20).exception_name == "ImportError"  # stock: no module
        assert dev.run(dp.mount_preamble(deployed), timeout=20).ok
        r = dev.run(f"ROOT = '/rom'\nMODELS = {_models_arg(mpy_models)}\n" + DEVICE_SCRIPT, timeout=900)
    assert r.ok, r.exception
    return r.output


@pytest.mark.slow
def test_mpy_from_romfs_on_stock_qemu_is_bit_exact(mpy_models, qemu_run):
    _check_results(mpy_models, qemu_run, "QEMU")


@pytest.mark.slow
@pytest.mark.parametrize("name", SHARED_MODELS)
def test_heap_after_import_under_32k(name, mpy_models, qemu_run):
    if name not in mpy_models:
        pytest.skip(f"shared model {name} not found")
    heap, _ = _parse(qemu_run)
    code = json.loads((mpy_models[name].outs["armv7emdp"] / f"{name}.mpy.json").read_text())["code_heap_bytes"]
    print(f"heap after import {name}: {heap[name]} B (native code {code} B)")
    # what import costs is the native code plus under 2 KB of Python objects (measured 1.0-1.6 KB:
    # the loader module, the native module's globals, heap block rounding)
    assert code <= heap[name] < code + mpy_boards.OBJECTS_BYTES, (heap[name], code)
    assert heap[name] < HEAP_LIMIT, f"{name}: {heap[name]} B of heap after import ({code} B of native code)"


@pytest.mark.slow
def test_run_command_mounts_the_deployed_image(deployed, tmp_path, capsys):
    script = tmp_path / "s.py"
    script.write_text("import sys\nsys.path.append('/rom')\nimport omv_force_int_quant as q\n"
                      "m = q.Model('/rom/omv_force_int_quant.bin')\nprint('ok', m.name, m.input_shape, m.ram)\n")
    if not (MODELS / "omv_force_int_quant.tflite").is_file():
        pytest.skip("shared model omv_force_int_quant not found")
    capsys.readouterr()
    assert main(["run", str(deployed), str(script)]) == 0
    assert "ok omv_force_int_quant [(" in capsys.readouterr().out


INSTR_SCRIPT = r"""
import sys, machine
sys.path.append('/rom')
mem = machine.mem32
T = 0x40000000
mem[T + 8] = 0xFFFFFFFF
mem[T + 4] = 0xFFFFFFFF
mem[T] = 1
def ticks(f):
    a = mem[T + 4]
    f()
    b = mem[T + 4]
    return (a - b) & 0xFFFFFFFF
def nothing():
    pass
for name in NAMES:
    m = MAKE(name)
    m.invoke()
    t = min(ticks(m.invoke) for _ in range(2)) - min(ticks(nothing) for _ in range(2))
    print('I', name, t)
    del m
"""


def _instructions(output: str) -> dict[str, int]:
    # CMSDK timer0 runs at 25 MHz (40 ns a tick); -icount shift=7 makes an instruction 128 ns.
    return {p[1]: int(p[2]) * 40 // 128 for p in (line.split() for line in output.splitlines()) if p[:1] == ["I"]}


@pytest.mark.slow
def test_instructions_within_one_percent_of_the_builtin_module(mpy_models, deployed, tmp_path_factory):
    # one firmware with every shared model built in (1.7 MB of code and weights)
    names = list(mpy_models)
    fw = tmp_path_factory.mktemp("builtin")
    args = ["build-firmware", "--port", "qemu", "-o", str(fw)]
    for n in names:
        args += ["--model", f"{n}={MODELS / (n + '.tflite')}"]
    assert main(args) == 0
    with boot(firmware_from(fw), icount_shift=7, boot_timeout=120) as dev:
        r = dev.run(f"import tinyengine\nMAKE = tinyengine.Model\nNAMES = {names!r}\n" + INSTR_SCRIPT, timeout=900)
    assert r.ok, r.exception
    builtin = _instructions(r.output)
    with boot(firmware_from(deployed), icount_shift=7, memory_images=dp.memory_images(deployed),
              boot_timeout=120) as dev:
        assert dev.run(dp.mount_preamble(deployed), timeout=30).ok
        make = "def MAKE(n):\n    return __import__(n).Model('/rom/' + n + '.bin')\n"
        r = dev.run(f"{make}NAMES = {names!r}\n" + INSTR_SCRIPT, timeout=900)
    assert r.ok, r.exception
    native = _instructions(r.output)
    print("instructions per inference, built-in vs .mpy:",
          {n: (builtin[n], native[n], f"{100 * (native[n] - builtin[n]) / builtin[n]:+.3f}%") for n in names})
    # the .mpy may cost at most 1% more; it can cost less where the firmware's compile of a C
    # loop comes out slower (omv_force_int_quant's small FULLY_CONNECTED layers: -0.45%)
    for n in names:
        assert native[n] <= (1 + INSTRUCTION_TOLERANCE) * builtin[n], \
            f"{n}: {native[n]} instructions as .mpy, {builtin[n]} built in"


# ------------------------------------------------------------------ errors users meet

ERRORS_SCRIPT = r"""
import sys
sys.path.append(ROOT)
def attempt(label, f):
    try:
        f()
        print('E', label, 'no error')
    except Exception as e:
        print('E', label, type(e).__name__, str(e).replace('\n', ' '))
"""


@pytest.fixture(scope="session")
def x64_error_root(mpy_models, tmp_path_factory):
    """A directory with two x64 models, a weights file of each, and bad variants."""
    if "omv_force_int_quant" not in mpy_models or "omv_micro_speech" not in mpy_models:
        pytest.skip("needs the shared models omv_force_int_quant and omv_micro_speech")
    root = tmp_path_factory.mktemp("errors")
    for n in ("omv_force_int_quant", "omv_micro_speech"):
        for p in mpy_models[n].outs["x64"].iterdir():
            if p.suffix in (".mpy", ".bin"):
                (root / p.name).write_bytes(p.read_bytes())
    good = (root / "omv_force_int_quant.bin").read_bytes()
    (root / "truncated.bin").write_bytes(good[:-16])
    (root / "magic.bin").write_bytes(b"PK\x03\x04" + good[4:])
    flipped = bytearray(good)
    flipped[len(good) // 2 + 40] ^= 0x10
    (root / "flipped.bin").write_bytes(bytes(flipped))
    return root


@pytest.mark.slow
def test_bad_weights_give_value_errors_naming_what_was_expected(x64_error_root, stock_fw):
    size = (x64_error_root / "omv_force_int_quant.bin").stat().st_size
    script = (f"ROOT = {str(x64_error_root)!r}\n" + ERRORS_SCRIPT + r"""
import omv_force_int_quant as q
P = ROOT + '/'
attempt('truncated', lambda: q.Model(P + 'truncated.bin'))
attempt('magic', lambda: q.Model(P + 'magic.bin'))
attempt('flipped', lambda: q.Model(P + 'flipped.bin'))
attempt('other', lambda: q.Model(P + 'omv_micro_speech.bin'))
attempt('short', lambda: q.Model(b'TEWB'))
attempt('type', lambda: q.Model(42))
good = open(P + 'omv_force_int_quant.bin', 'rb').read()
buf = bytearray(len(good) + 8)
mv = memoryview(buf)
for shift in (1, 2, 4):
    mv[shift:shift + len(good)] = good
    attempt('misaligned%d' % shift, lambda: q.Model(mv[shift:shift + len(good)]))
attempt('buffer', lambda: print('OK', q.Model(good).name))
""")
    with boot(firmware_from(stock_fw("unix"))) as dev:
        r = dev.run(script, timeout=60)
    assert r.ok, r.exception
    got = {p[1]: " ".join(p[2:]) for p in (line.split() for line in r.output.splitlines()) if p[:1] == ["E"]}
    assert got["truncated"].startswith("ValueError") and f"expected {size} bytes" in got["truncated"] \
        and f"got {size - 16}" in got["truncated"]
    assert got["magic"].startswith("ValueError") and "not a te-openmv weights file" in got["magic"] \
        and "omv_force_int_quant.bin" in got["magic"]
    assert got["flipped"].startswith("ValueError") and "corrupted" in got["flipped"] and "CRC32" in got["flipped"]
    assert got["other"].startswith("ValueError") and "model 'omv_micro_speech'" in got["other"] \
        and "omv_force_int_quant.bin compiled with it" in got["other"]
    assert got["short"].startswith("ValueError") and f"of {size} bytes" in got["short"]
    assert got["type"].startswith("TypeError") and "path of omv_force_int_quant.bin or a buffer" in got["type"]
    for shift in (1, 2, 4):
        assert got[f"misaligned{shift}"].startswith("ValueError") and "aligned to 8 bytes" in got[f"misaligned{shift}"]
    assert "OK omv_force_int_quant" in r.output


@pytest.mark.slow
def test_other_arch_and_micropython_version_say_what_the_board_has(x64_error_root, mpy_models, stock_fw,
                                                                    tmp_path):
    from te_openmv.targets.natmod_build import loader_source, mpy_cross
    import subprocess
    root = tmp_path / "r"
    root.mkdir()
    arm = mpy_models["omv_force_int_quant"].outs["armv7emdp"]
    for p in arm.iterdir():  # the armv7emdp build on an x64 board
        if p.suffix in (".mpy", ".bin"):
            (root / p.name).write_bytes(p.read_bytes())
    # a native module of another .mpy sub-version (another MicroPython): patch its header
    x64 = (x64_error_root / "omv_force_int_quant_x64.mpy").read_bytes()
    (root / "oldmp_x64.mpy").write_bytes(x64[:2] + bytes([(x64[2] & ~3) | 2]) + x64[3:])
    src = root / "oldmp.py"
    src.write_text(loader_source("oldmp", "x64", "model.tflite"))
    subprocess.run([str(mpy_cross()), "-o", str(root / "oldmp.mpy"), str(src)], check=True)
    src.unlink()
    # and a loader built for another MicroPython (.mpy v6.2)
    src = root / "oldloader.py"
    src.write_text(loader_source("oldloader", "x64", "model.tflite").replace("_MPY = (6, 3)", "_MPY = (6, 2)"))
    subprocess.run([str(mpy_cross()), "-o", str(root / "oldloader.mpy"), str(src)], check=True)
    src.unlink()
    script = f"ROOT = {str(root)!r}\n" + ERRORS_SCRIPT + r"""
attempt('arch', lambda: __import__('omv_force_int_quant'))
attempt('version', lambda: __import__('oldmp'))
attempt('loader', lambda: __import__('oldloader'))
"""
    with boot(firmware_from(stock_fw("unix"))) as dev:
        r = dev.run(script, timeout=60)
    assert r.ok, r.exception
    got = {p[1]: " ".join(p[2:]) for p in (line.split() for line in r.output.splitlines()) if p[:1] == ["E"]}
    arch = got["arch"]
    assert arch.startswith("ImportError") and "arch x64" in arch and "built for armv7emdp" in arch \
        and "te-openmv compile omv_force_int_quant.tflite --mpy --arch x64 -o OUT" in arch, arch
    version = got["version"]
    assert version.startswith("ImportError") and "MicroPython 1.25.0 (.mpy v6.3" in version \
        and "incompatible .mpy" in version and "rebuild: te-openmv compile model.tflite --mpy --arch x64" in version
    loader = got["loader"]
    assert loader.startswith("ImportError") and "(.mpy v6.3, arch x64)" in loader and "(.mpy v6.2" in loader
    # deploy refuses code for another arch before anything reaches the board
    with pytest.raises(dp.DeployError, match="runs armv7emdp: rebuild with `te-openmv compile MODEL --mpy --arch "
                                             "armv7emdp"):
        dp.collect([mpy_models["omv_force_int_quant"].outs["x64"]], "armv7emdp")


def test_deploy_to_a_missing_port_is_one_line(tmp_path, capsys):
    """deploy --port to a port that is not there: mpremote's own failure in one line that says
    what was being asked (not the probe script it was given)."""
    assert main(["deploy", "--port", "/dev/ttyTE-missing", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("te-openmv: error: /dev/ttyTE-missing: asking the firmware what it supports failed: ")
    assert "/dev/ttyTE-missing" in err.split("failed: ", 1)[1]


@pytest.mark.slow  # builds a native module (ARM compiler, mpy-cross)
def test_deploy_to_a_board_says_why_it_cannot(mpy_fast_out, tmp_path, monkeypatch):
    """deploy --port /dev/...: the board is asked first (mpremote, faked here) and refused with the reason."""
    answers = {}
    written = []

    def fake(port, what, *args, timeout=60):
        if args[0] == "exec":
            return answers["probe"]
        written.append(args)
        return ""
    monkeypatch.setattr(dp, "_mpremote", fake)
    arm = 8 << 10 | 3 << 8 | 6   # armv7emdp, .mpy 6.3
    answers["probe"] = "mpy 0\nromfs False\npart 0\n"
    with pytest.raises(dp.DeployError, match="cannot load .mpy files with native code"):
        dp.deploy([mpy_fast_out], "/dev/ttyACM0")
    answers["probe"] = f"mpy {arm}\nromfs False\npart 0\n"
    with pytest.raises(dp.DeployError, match="no ROMFS support"):
        dp.deploy([mpy_fast_out], "/dev/ttyACM0")
    answers["probe"] = f"mpy {7 << 10 | 3 << 8 | 6}\nromfs True\npart 1048576\n"
    with pytest.raises(dp.DeployError, match="this board runs armv7emsp: rebuild with `te-openmv compile MODEL "
                                             "--mpy --arch armv7emsp"):
        dp.deploy([mpy_fast_out], "/dev/ttyACM0")
    answers["probe"] = f"mpy {arm}\nromfs True\npart 1024\n"
    with pytest.raises(dp.DeployError, match=r"partition holds 1,024 B \(\d[\d,]* B too many\)"):
        dp.deploy([mpy_fast_out], "/dev/ttyACM0")
    assert not written
    answers["probe"] = f"mpy {arm}\nromfs True\npart 1048576\n"
    image = dp.deploy([mpy_fast_out], "/dev/ttyACM0")
    assert written == [("romfs", "deploy", str(image))]
    files = romfs.read_image(image.read_bytes())
    assert set(files) == {"omv_force_int_quant.mpy", "omv_force_int_quant_armv7emdp.mpy", "omv_force_int_quant.bin"}


@pytest.fixture(scope="module")
def mpy_fast_out(tmp_path_factory):
    """omv_force_int_quant compiled --mpy for armv7emdp (cached builds make this quick)."""
    model = MODELS / "omv_force_int_quant.tflite"
    if not model.is_file():
        pytest.skip(f"shared model {model} not found")
    out = tmp_path_factory.mktemp("fast-mpy")
    assert main(["compile", str(model), "--mpy", "-o", str(out)]) == 0
    return out


@pytest.mark.slow  # builds a native module (ARM compiler, mpy_ld)
def test_building_an_mpy_leaves_nothing_in_the_working_directory(tmp_path, monkeypatch):
    """`te-openmv compile --mpy` writes only where -o says, whatever the directory it runs in
    (mpy_ld caches the runtime libraries' symbols in the directory it runs in)."""
    model = MODELS / "omv_force_int_quant.tflite"
    if not model.is_file():
        pytest.skip(f"shared model {model} not found")
    for old in (toolchain.cache_dir() / "natmod").glob("cwd_probe-*"):
        shutil.rmtree(old)  # a cached build would not run mpy_ld at all
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    shutil.copy(model, tmp_path / "cwd_probe.tflite")
    assert main(["compile", str(tmp_path / "cwd_probe.tflite"), "--mpy", "-o", str(tmp_path / "out")]) == 0
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"cwd_probe.bin", "cwd_probe.mpy", "cwd_probe_armv7emdp.mpy"} <= written
    assert not list(cwd.iterdir())
