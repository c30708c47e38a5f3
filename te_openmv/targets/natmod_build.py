"""Build a compiled model as a MicroPython dynamic native module (`te-openmv compile --mpy`).

Output, for a model NAME and an architecture ARCH:
  NAME.mpy        a small bytecode loader (any board): checks the board's .mpy arch and
                  version, says which ones it has and the command to rebuild when they do
                  not match, then imports the native code;
  NAME_ARCH.mpy   the native code: te_openmv/module/natmod/te_natmod.c (the Model type),
                  NAME.c built with TE_WEIGHTS_EXTERNAL and the kernels it uses, linked by
                  MicroPython's tools/mpy_ld.py;
  NAME.bin        the weights (te_openmv.targets.weights_file), read in place on the board.

Why the weights are a separate file: a stock firmware copies a native module's code into
its heap, so weights inside the code would cost their size in RAM; a ROMFS file is
memory-mapped instead. For the same reason the code is kept small:
  - the C files are compiled with -ffunction-sections/-fdata-sections and pre-linked with
    `ld -r --gc-sections`, so kernel variants the model does not call do not ship;
  - TE_SMALL_CODE (te/common.h): the C loops the assembly does not take are compiled once
    instead of once per kernel shape and requantization mode;
  - the binding and the model's own C (a call per operator, parameter tables), which are
    not hot, are built for size; the kernels keep the firmware module's -O2, so the hot
    paths run the same machine code in both deployments.
memcpy/memset come from the firmware's function table; libgcc/libm helpers are linked in
(mpy_ld's LINK_RUNTIME).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from te_openmv import KERNELS_DIR, KERNELS_INCLUDE, MODULE_DIR
from te_openmv.codegen.compiler import Compiled
from te_openmv.targets import toolchain, weights_file

NATMOD_DIR = MODULE_DIR / "natmod"
# The binding quantizes/dequantizes float edges with these kernels whatever the model uses.
BINDING_KERNELS = ("quantize.c",)
# MicroPython's .mpy format of the source te-openmv builds against (py/persistentcode.h):
# native code loads only where MPY_VERSION.MPY_SUB_VERSION match.
MPY_VERSION, MPY_SUB_VERSION = 6, 3
# Bump when the recipe below changes meaning (cached builds are keyed by it).
RECIPE_VERSION = 3


class NatmodBuildError(RuntimeError):
    """The native module could not be built; the message says why."""


@dataclass(frozen=True)
class Arch:
    name: str
    cross: str             # compiler prefix ("" = the host's gcc)
    cflags: tuple[str, ...]
    float_impl: str        # MICROPY_FLOAT_IMPL of the boards this arch serves
    boards: str            # for messages


ARCHS = {
    "armv7emdp": Arch("armv7emdp", "arm-none-eabi-", ("-mthumb", "-mcpu=cortex-m7", "-mfpu=fpv5-d16",
                                                     "-mfloat-abi=hard"), "float",
                      "Cortex-M7 with double-precision FPU: OpenMV Cam H7/H7 Plus/RT1062/N6/AE3, the QEMU board"),
    "armv7emsp": Arch("armv7emsp", "arm-none-eabi-", ("-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16",
                                                     "-mfloat-abi=hard"), "float",
                      "Cortex-M4/M7 with single-precision FPU: OpenMV Cam M4/M7, pyboard"),
    "armv7m": Arch("armv7m", "arm-none-eabi-", ("-mthumb", "-mcpu=cortex-m3", "-mfloat-abi=soft"), "float",
                   "Cortex-M3 and any ARMv7-M board (no DSP instructions: the portable kernels)"),
    "x64": Arch("x64", "", ("-fno-stack-protector",), "double", "MicroPython's unix port on x86-64"),
}
ARCH_NAMES = tuple(ARCHS)


@dataclass(frozen=True)
class NatmodFiles:
    loader: Path           # NAME.mpy
    native: Path           # NAME_ARCH.mpy
    weights: Path          # NAME.bin
    arch: str
    text_bytes: int        # native code + constants mpy_ld placed in the module
    bss_bytes: int
    build_hash: bytes

    @property
    def heap_bytes(self) -> int:
        """What importing costs in the board's heap: the native code is copied there, with its bss."""
        return self.text_bytes + self.bss_bytes


# ------------------------------------------------------------------ tools

def mpy_cross() -> Path:
    """mpy-cross of the MicroPython source te-openmv uses, built once into the cache."""
    src = toolchain.micropython_source()
    dest = toolchain.cache_dir() / f"mpy-cross-{toolchain.MICROPYTHON_VERSION}"
    exe = dest / "mpy-cross"
    if exe.is_file():
        return exe
    toolchain.ensure_host_build_tools()
    with toolchain.file_lock("mpy-cross"):
        if exe.is_file():
            return exe
        build = dest / "build"
        r = subprocess.run(["make", "-C", str(src / "mpy-cross"), f"BUILD={build}", "-j2"],
                           capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
        if r.returncode != 0 or not (build / "mpy-cross").is_file():
            raise NatmodBuildError("building mpy-cross failed:\n" + "\n".join((r.stdout + r.stderr).splitlines()[-20:]))
        shutil.copy2(build / "mpy-cross", exe)
    return exe


def _mpy_ld() -> list[str]:
    try:
        import elftools  # noqa: F401
        import ar  # noqa: F401
    except ImportError as e:
        raise NatmodBuildError(f"MicroPython's mpy_ld.py needs the Python packages pyelftools and ar ({e}); "
                               f"install them: pip install pyelftools ar") from e
    return [sys.executable, str(toolchain.micropython_source() / "tools" / "mpy_ld.py")]


def _run(cmd: list, what: str, cwd: Path | None = None) -> str:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        raise NatmodBuildError(f"{what} failed (exit {r.returncode}):\n{(r.stdout + r.stderr).strip()[-3000:]}\n"
                               f"command: {' '.join(map(str, cmd))}")
    return r.stdout


def _arch(name: str) -> Arch:
    if name not in ARCHS:
        raise NatmodBuildError(f"unknown --arch {name!r}; choose one of {', '.join(ARCHS)}")
    a = ARCHS[name]
    if a.cross:
        toolchain.arm_gcc()
    else:
        toolchain.ensure_host_build_tools()
    return a


# ------------------------------------------------------------------ build

def loader_source(name: str, arch: str, source: str) -> str:
    tmpl = (NATMOD_DIR / "loader.py.tmpl").read_text()
    return tmpl.format(name=name, arch=arch, mpy_version=MPY_VERSION, mpy_sub=MPY_SUB_VERSION, source=source,
                       archs=repr(ARCH_NAMES), mp_versions=toolchain.MICROPYTHON_VERSION)


def stub_source(name: str) -> str:
    """NAME.pyi: tinyengine.pyi's Model (the same attributes and methods), constructed from
    the weights file instead of a compiled-in name."""
    text = (MODULE_DIR / "tinyengine.pyi").read_text()
    head, _, rest = text.partition("\ndef models()")
    cls = rest[rest.index("\nclass Model:"):]
    doc_start = cls.index('"""') + 3
    doc_end = cls.index('"""', doc_start)
    cls = (cls[:doc_start] + f"""A compiled model read from its weights file.

    Model(weights) takes the path of {name}.bin (on ROMFS it is used in place, zero copy;
    elsewhere it is read into the heap) or a buffer holding it, aligned to 8 bytes, and
    allocates the arena (`ram` bytes) from the MicroPython heap. ValueError names what was
    expected for a wrong, corrupted or misaligned weights file; MemoryError states the
    arena's bytes. Outputs are array('f') (a dynamic module cannot make ulab arrays).
    """ + '"""' + cls[doc_end + 3:])
    # the constructor takes the weights file instead of a name (whatever tinyengine's signature says)
    cls = re.sub(r"    def __init__\(self, name: str.*?(?=\n    (?:@|def ))",
                 "    def __init__(self, weights: Union[str, Buffer], postprocess: Callable[..., Any] = None) -> None: ...\n", cls, count=1, flags=re.S)
    module_doc = (f'"""Type stubs for {name}.mpy, the model {name} compiled by `te-openmv compile --mpy`.\n\n'
                  f"The same Model API as te-openmv's `tinyengine` module (tinyengine.pyi).\n\"\"\"\n")
    body = head[head.index('"""', 3) + 3:]
    return module_doc + body + f"\nMODEL_NAME: str\n\"\"\"{name!r}\"\"\"\n" + cls


def _config_header(compiled: Compiled, hash_: bytes) -> str:
    n = compiled.name
    return (f"/* generated by te-openmv: which model this native module holds */\n"
            f'#include "{n}.h"\n#define TE_NATMOD_NAME "{n}"\n#define TE_NATMOD_MODEL {n}_model\n'
            f"#define TE_NATMOD_WEIGHTS_BYTES {len(compiled.emitted.weights_blob)}u\n"
            f"#define TE_NATMOD_BUILD_HASH {{ {', '.join(str(b) for b in hash_)} }}\n")


def _build_native(compiled: Compiled, arch: Arch, hash_: bytes) -> tuple[Path, int, int]:
    """NAME_ARCH.mpy in the cache (keyed by everything that goes in); (path, text, bss)."""
    name = compiled.name
    kernels = list(dict.fromkeys([*compiled.emitted.kernel_files, *BINDING_KERNELS]))
    kernel_paths = [KERNELS_DIR / k for k in kernels]
    config = _config_header(compiled, hash_)
    h = hashlib.sha256(f"recipe {RECIPE_VERSION} {arch}\n".encode())
    h.update(compiled.emitted.c_source.encode() + compiled.emitted.h_source.encode() + config.encode())
    for p in [*kernel_paths, *sorted(KERNELS_INCLUDE.rglob("*.h")), *sorted(NATMOD_DIR.glob("*")),
              MODULE_DIR / "te_runtime.h", MODULE_DIR / "te_attrs.h"]:
        h.update(str(p.name).encode() + p.read_bytes())
    src = toolchain.micropython_source()
    h.update((src / ".te-complete").read_bytes())
    work = toolchain.cache_dir() / "natmod" / f"{name}-{arch.name}-{h.hexdigest()[:16]}"
    product = work / f"{name}_{arch.name}.mpy"
    sizes = work / "sizes.txt"
    if product.is_file() and sizes.is_file():
        text, bss = map(int, sizes.read_text().split())
        return product, text, bss
    with toolchain.file_lock(f"natmod-{work.name}"):
        # another process may have built it while we waited; a finished build (sizes.txt is
        # written last) is never removed, so readers outside the lock are safe
        if product.is_file() and sizes.is_file():
            text, bss = map(int, sizes.read_text().split())
            return product, text, bss
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        (work / f"{name}.c").write_text(compiled.emitted.c_source)
        (work / f"{name}.h").write_text(compiled.emitted.h_source)
        (work / "te_natmod_config.h").write_text(config)
        binding = NATMOD_DIR / "te_natmod.c"
        qstrs = work / "mpy_config.h"
        ld = _mpy_ld()
        # mpy_ld keeps its archive symbol cache (.mpy_ld_cache) in the directory it runs in:
        # ours, shared by every build, never the user's
        ld_dir = work.parent
        _run([*ld, "--arch", arch.name, "--preprocess", "-o", qstrs, binding], "mpy_ld.py --preprocess", ld_dir)
        common = ["-I", work, "-I", NATMOD_DIR, "-I", MODULE_DIR, "-I", KERNELS_INCLUDE, "-I", src,
                  "-std=gnu99", "-Wall", "-DNDEBUG", "-DNO_QSTR", "-DMICROPY_ENABLE_DYNRUNTIME",
                  f"-DMP_CONFIGFILE=<{qstrs}>", "-fpic", "-fno-common", "-U_FORTIFY_SOURCE", *arch.cflags,
                  f"-DMICROPY_FLOAT_IMPL=MICROPY_FLOAT_IMPL_{arch.float_impl.upper()}",
                  "-ffunction-sections", "-fdata-sections", "-DTE_WEIGHTS_EXTERNAL", "-DTE_SMALL_CODE=1"]
        gcc = f"{arch.cross}gcc"
        objs = []
        # The binding: built for size; no loop turned into a strlen/memset call it would
        # have to provide itself.
        # The model's own C (one call per operator, the parameter tables) is not hot either.
        jobs = [(binding, ["-Os", "-fno-tree-loop-distribute-patterns"]), (work / f"{name}.c", ["-Os"])]
        jobs += [(k, ["-O2"]) for k in kernel_paths]
        for path, opt in jobs:
            obj = work / (Path(path).stem + ".o")
            _run([gcc, *common, *opt, "-c", path, "-o", obj], f"compiling {Path(path).name} for {arch.name}")
            objs.append(obj)
        pre = work / "prelinked.o"
        _run([f"{arch.cross}ld", "-r", "--gc-sections", "-e", "mpy_init", "-o", pre, *objs],
             "pre-linking (ld -r --gc-sections)")
        libs = []
        if arch.cross:
            for lib in ("--print-libgcc-file-name", "--print-file-name=libm.a"):
                p = _run([gcc, *arch.cflags, lib], "locating the runtime libraries").strip()
                libs += ["-l", os.path.realpath(p)]
        out = _run([*ld, "--arch", arch.name, "--qstrs", qstrs, *libs, "-o", product, pre], "mpy_ld.py", ld_dir)
        text = re.search(r"text size:\s*(\d+)", out)
        bss = re.search(r"bss size:\s*(\d+)", out)
        sizes.write_text(f"{int(text.group(1)) if text else product.stat().st_size} {int(bss.group(1)) if bss else 0}\n")
        text_b, bss_b = map(int, sizes.read_text().split())
    return product, text_b, bss_b


def build_natmod(compiled: Compiled, arch: str, out_dir: Path, source: str = "MODEL.tflite") -> NatmodFiles:
    """Write NAME.mpy (loader), NAME_ARCH.mpy (native code) and NAME.bin (weights) into out_dir.

    source: how the rebuild command in the loader's error names the model file."""
    a = _arch(arch)
    name = compiled.name
    blob = compiled.emitted.weights_blob
    hash_ = weights_file.build_hash(compiled.emitted.c_source, blob)
    native, text, bss = _build_native(compiled, a, hash_)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    native_out = out_dir / native.name
    shutil.copy2(native, native_out)
    weights_out = out_dir / f"{name}.bin"
    weights_out.write_bytes(weights_file.pack(name, blob, hash_))
    (out_dir / f"{name}.pyi").write_text(stub_source(name))
    py = out_dir / f".{name}_loader.py"
    py.write_text(loader_source(name, a.name, source))
    loader = out_dir / f"{name}.mpy"
    try:
        # -s: the source name the .mpy embeds, the module's own (not the output path: the same
        # model gives the same bytes wherever it is built)
        _run([mpy_cross(), "-o", loader, "-s", f"{name}.py", py], "mpy-cross (the loader)")
    finally:
        py.unlink(missing_ok=True)
    return NatmodFiles(loader, native_out, weights_out, a.name, text, bss, hash_)
