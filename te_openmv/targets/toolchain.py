"""Host toolchain for te-openmv: Debian packages, the ARM cross compiler, QEMU and the
MicroPython source tree, all installed or fetched on demand and cached.

Everything here is idempotent and cheap when the thing is already present, so callers
just ask for what they need (`arm_gcc()`, `qemu_system_arm()`, `micropython_source()`).

The MicroPython source comes from Debian's `micropython` *source* package of trixie
(upstream 1.25.0), fetched with a private apt configuration (own sources list, lists
and cache directories under the te-openmv cache) so the machine's apt setup is never
changed.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Iterator

MICROPYTHON_VERSION = "1.25.0"
# Debian suite whose `micropython` source package is MICROPYTHON_VERSION.
MICROPYTHON_SUITE = "trixie"
DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"

# What building MicroPython's unix port on the host needs.
HOST_BUILD_PACKAGES = ["make", "gcc", "libc6-dev", "pkg-config", "python3"]
ARM_GCC_PACKAGES = ["gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "binutils-arm-none-eabi"]
QEMU_PACKAGES = ["qemu-system-arm"]
# apt needs these to fetch over https and unpack .xz sources on a minimal Debian.
_SOURCE_FETCH_PACKAGES = ["ca-certificates", "xz-utils"]

_APT_UPDATE_MAX_AGE_S = 24 * 3600
_apt_updated_this_process = False


class ToolchainError(RuntimeError):
    """A host tool or source tree could not be installed or fetched; the message says why."""


def cache_dir() -> Path:
    """The te-openmv cache directory (`$TE_OPENMV_CACHE`, else `~/.cache/te-openmv`), created if missing."""
    env = os.environ.get("TE_OPENMV_CACHE")
    # absolute: tools run in directories of their own within it (mpy_ld, builds)
    p = (Path(env).expanduser() if env else Path.home() / ".cache" / "te-openmv").absolute()
    p.mkdir(parents=True, exist_ok=True)
    return p


@contextlib.contextmanager
def file_lock(name: str, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive lock `<cache>/locks/<name>.lock` (between processes) for the block.

    With blocking=False, raise BlockingIOError at once if another process holds it.
    """
    d = cache_dir() / "locks"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------- apt

def missing_apt_packages(names: list[str]) -> list[str]:
    """The subset of `names` that dpkg does not report as installed."""
    missing = []
    for name in names:
        r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", name],
                           capture_output=True, text=True)
        if r.returncode != 0 or not r.stdout.startswith("ii"):
            missing.append(name)
    return missing


def _root_prefix(packages: list[str]) -> list[str]:
    """[] when root, ['sudo', '-n'] when password-less sudo works, else a clear error."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    raise ToolchainError(
        f"missing Debian packages: {' '.join(packages)}; installing them needs root. "
        f"Run: sudo apt-get install -y --no-install-recommends {' '.join(packages)}")


def _run_apt(cmd: list[str], what: str, packages: list[str]) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise ToolchainError(f"{what} failed (exit {r.returncode}) for packages: {' '.join(packages)}\n{tail}")


def _apt_update(prefix: list[str], packages: list[str], force: bool = False) -> None:
    """`apt-get update`, at most once per process and (via a stamp) once a day unless forced."""
    global _apt_updated_this_process
    stamp = cache_dir() / "apt-update.stamp"
    if not force:
        if _apt_updated_this_process:
            return
        if stamp.exists() and time.time() - stamp.stat().st_mtime < _APT_UPDATE_MAX_AGE_S:
            return
    print("[toolchain] apt-get update", file=sys.stderr, flush=True)
    _run_apt(prefix + ["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"], "apt-get update", packages)
    _apt_updated_this_process = True
    stamp.touch()


def ensure_apt_packages(names: list[str]) -> None:
    """Install the Debian packages in `names` that are not installed yet.

    Runs `apt-get update` first (once per process, and at most once a day across runs,
    remembered by a stamp in the cache). Raises ToolchainError naming the packages when
    not root (and no password-less sudo) or when apt fails.
    """
    missing = missing_apt_packages(names)
    if not missing:
        return
    prefix = _root_prefix(missing)
    with file_lock("apt"):
        missing = missing_apt_packages(missing)  # another process may have installed them meanwhile
        if not missing:
            return
        install = prefix + ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y",
                            "--no-install-recommends", *missing]
        _apt_update(prefix, missing)
        print(f"[toolchain] apt-get install {' '.join(missing)}", file=sys.stderr, flush=True)
        try:
            _run_apt(install, "apt-get install", missing)
        except ToolchainError:
            # The day-old stamp may hide stale package lists: refresh once and retry.
            if _apt_updated_this_process:
                raise
            _apt_update(prefix, missing, force=True)
            _run_apt(install, "apt-get install", missing)
    still = missing_apt_packages(missing)
    if still:
        raise ToolchainError(f"apt-get reported success but these packages are not installed: {' '.join(still)}")


def _tool(name: str, packages: list[str]) -> Path:
    found = shutil.which(name)
    if found is None:
        ensure_apt_packages(packages)
        found = shutil.which(name)
    if found is None:
        raise ToolchainError(f"{name} not found on PATH after installing {' '.join(packages)}")
    return Path(found)


def arm_gcc() -> Path:
    """Path of `arm-none-eabi-gcc` (with newlib), installing Debian's toolchain if needed."""
    ensure_apt_packages(ARM_GCC_PACKAGES)
    return _tool("arm-none-eabi-gcc", ARM_GCC_PACKAGES)


def arm_tool(name: str) -> Path:
    """Path of a binutils tool of the ARM toolchain, e.g. `arm_tool("size")` -> arm-none-eabi-size."""
    return _tool(f"arm-none-eabi-{name}", ARM_GCC_PACKAGES)


def qemu_system_arm() -> Path:
    """Path of `qemu-system-arm`, installing Debian's `qemu-system-arm` if needed."""
    return _tool("qemu-system-arm", QEMU_PACKAGES)


def ensure_host_build_tools() -> None:
    """Make sure the host C toolchain that builds MicroPython's unix port is installed."""
    ensure_apt_packages(HOST_BUILD_PACKAGES)


# ------------------------------------------------------------- MicroPython source

def debian_mirror(etc_apt: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine uses (`$TE_OPENMV_DEBIAN_MIRROR` overrides it).

    Read from `etc_apt`/sources.list.d/*.sources (deb822 `URIs:`) or the one-line
    sources.list files, skipping security and third-party repositories; falls back to
    deb.debian.org.
    """
    env = os.environ.get("TE_OPENMV_DEBIAN_MIRROR")
    if env:
        return env.rstrip("/")
    candidates: list[str] = []
    sources_d = etc_apt / "sources.list.d"
    for f in sorted(sources_d.glob("*.sources")) if sources_d.is_dir() else []:
        for stanza in re.split(r"\n\s*\n", _read(f)):
            fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.M))
            if fields.get("Enabled", "yes").strip().lower() == "no":
                continue
            candidates += fields.get("URIs", "").split()
    lists = [etc_apt / "sources.list"] + (sorted(sources_d.glob("*.list")) if sources_d.is_dir() else [])
    for f in lists:
        for line in _read(f).splitlines():
            m = re.match(r"^\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
            if m:
                candidates.append(m.group(1))
    for uri in candidates:
        # The main archive ends in /debian (deb.debian.org/debian, a local mirror, a snapshot).
        if uri.rstrip("/").endswith("/debian") and "security" not in uri:
            return uri.rstrip("/")
    return DEFAULT_DEBIAN_MIRROR


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


def _private_apt_options(root: Path) -> list[str]:
    """apt options that confine apt to `root` (own sources list, lists, cache) for source fetching."""
    lists, cache = root / "lists", root / "cache"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    sources = root / "sources.list"
    sources.write_text(f"deb-src {debian_mirror()} {MICROPYTHON_SUITE} main\n")
    return ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=-",
            "-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={cache}",
            "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
            # Files live in the (root-owned) user cache: don't drop privileges to _apt.
            "-o", "APT::Sandbox::User=root"]


def _source_version(tree: Path) -> str:
    text = _read(tree / "py" / "mpconfig.h")
    parts = [re.search(rf"#define MICROPY_VERSION_{k}\s+\(?(\d+)", text) for k in ("MAJOR", "MINOR", "MICRO")]
    if not all(parts):
        raise ToolchainError(f"{tree}: py/mpconfig.h has no MICROPY_VERSION_* defines; not a MicroPython tree?")
    return ".".join(m.group(1) for m in parts)  # type: ignore[union-attr]


def _extract(tarball: Path, dest: Path) -> None:
    try:
        import lzma  # noqa: F401  (tarfile needs it for .xz)
        with tarfile.open(tarball) as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, filter="data")
            else:
                tf.extractall(dest)
    except ImportError:
        ensure_apt_packages(["tar", "xz-utils"])
        subprocess.run(["tar", "-xf", str(tarball), "-C", str(dest)], check=True)


def micropython_source() -> Path:
    """The unpacked MicroPython 1.25.0 source tree, `<cache>/micropython-1.25.0/`.

    Downloaded once from Debian trixie's `micropython` source package (with a private
    apt configuration), unpacked with tarfile, version-checked and cached. A file lock
    keeps concurrent callers from unpacking twice. Debian's orig tarball lacks some
    git submodules (mbedtls, berkeley-db, libffi...), so builds must disable those parts.
    """
    dest = cache_dir() / f"micropython-{MICROPYTHON_VERSION}"
    if (dest / ".te-complete").exists():
        return dest
    with file_lock("micropython-source"):
        if (dest / ".te-complete").exists():
            return dest
        t0 = time.monotonic()
        ensure_apt_packages(_SOURCE_FETCH_PACKAGES)
        root = cache_dir() / "apt-src"
        opts = _private_apt_options(root)
        # The private apt state lives in our cache, so this part needs no root.
        print(f"[toolchain] fetching Debian {MICROPYTHON_SUITE} source package micropython "
              f"from {debian_mirror()}", file=sys.stderr, flush=True)
        _run_apt(["apt-get", *opts, "update"], f"apt-get update (private {MICROPYTHON_SUITE} deb-src list)",
                 ["micropython (source)"])
        dl = root / "download"
        if dl.exists():
            shutil.rmtree(dl)
        dl.mkdir()
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", *opts, "source", "--download-only", "micropython"],
                           cwd=dl, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise ToolchainError("apt-get source --download-only micropython failed:\n"
                                 + "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:]))
        origs = sorted(dl.glob("micropython_*.orig.tar.*"))
        if not origs:
            raise ToolchainError(f"no micropython_*.orig.tar.* downloaded into {dl}: {sorted(os.listdir(dl))}")
        orig = origs[0]
        m = re.match(r"micropython_(\d+\.\d+\.\d+)", orig.name)
        if not m or m.group(1) != MICROPYTHON_VERSION:
            raise ToolchainError(f"Debian {MICROPYTHON_SUITE} serves {orig.name}, expected MicroPython "
                                 f"{MICROPYTHON_VERSION}")
        tmp = cache_dir() / f".micropython-unpack-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        _extract(orig, tmp)
        tops = [p for p in tmp.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise ToolchainError(f"{orig.name}: expected one top-level directory, found {[p.name for p in tops]}")
        tree = tops[0]
        version = _source_version(tree)
        if version != MICROPYTHON_VERSION:
            raise ToolchainError(f"{orig.name} unpacked MicroPython {version}, expected {MICROPYTHON_VERSION}")
        if dest.exists():
            shutil.rmtree(dest)
        tree.rename(dest)
        shutil.rmtree(tmp)
        shutil.rmtree(root)  # the private apt lists and downloads are not needed any more
        (dest / ".te-complete").write_text(orig.name + "\n")
        print(f"[toolchain] MicroPython {version} source ready at {dest} ({time.monotonic() - t0:.1f} s)", file=sys.stderr, flush=True)
    return dest
