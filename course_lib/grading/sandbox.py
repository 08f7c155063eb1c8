"""Run every student kernel inside a bubblewrap sandbox, with memory and process limits.

A submission is code written by someone else, executed with the grader's rights. Under
`bubblewrap <https://github.com/containers/bubblewrap>`_ (Debian package ``bubblewrap``,
command ``bwrap``) the kernel of one submission sees

* the system (``/usr``, ``/etc``, ...), the Python installation and the ``course_lib`` package,
  all **read-only**;
* one writable folder of its own (a fresh temporary folder that becomes its working directory,
  ``HOME`` and ``/tmp``); the files of the assignment are copied there;
* **no network**: a new, empty network namespace (``--unshare-net``). The kernel still talks to
  the grader, through ZeroMQ IPC sockets (Unix sockets) in its own folder;
* nothing else: ``solutions/`` (the answer key), the gradebook, other students' submissions and
  the rest of the grading directory do not exist inside the sandbox;
* a cleaned environment (only the variables that configure Python, TensorFlow, Keras and the
  course; tokens or keys of the grader never reach student code).

Two resource limits are applied inside the sandbox, just before the kernel starts:

* ``RLIMIT_DATA`` caps the kernel's private writable memory (heap, NumPy and TensorFlow buffers).
  An allocation above it fails with ``MemoryError`` *in the cell that asked for it*, and the
  kernel lives on. (``RLIMIT_AS`` would not do: TensorFlow alone reserves ~3 GB of address space
  that it never uses.)
* ``RLIMIT_NPROC`` caps the number of processes and threads. Inside the sandbox's own user
  namespace the kernel counts only its own tasks, so one submission's fork loop cannot starve the
  others. Linux exempts root from this limit: when the grader runs as root (a container), the
  kernel becomes an unprivileged user (``nobody`` by default, with ``setpriv``) in a user
  namespace of its own (``unshare --user``) inside the sandbox.

Where ``bwrap`` is missing or cannot create namespaces (macOS, a laptop without the package, a
container without user namespaces), grading still works, unsandboxed, and
:func:`warn_unsandboxed` says so once, loudly.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SandboxSettings", "available", "kernel_command", "prepare_folder", "warn_unsandboxed"]

# Variables that reach the sandboxed kernel: names, and prefixes of names.
ENVIRONMENT_NAMES = ("LANG", "LANGUAGE", "TZ", "MPLBACKEND", "NBGRADER_EXECUTION", "JPY_PARENT_PID")
ENVIRONMENT_PREFIXES = (
    "LC_",
    "PYTHON",
    "KERAS_",
    "COURSE_LIB_",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "CUDA_",
    "TF_CPP_",
    "TF_ENABLE_",
    "TF_NUM_",
    "TF_FORCE_",
    "TF_XLA_",
    "TF_GPU_",
    "TF_DETERMINISTIC_",
)

# Inside the sandbox the limits are set by the kernel's own Python, which then becomes the kernel.
_SET_LIMITS = (
    "import os, resource, sys\n"
    "memory, tasks = int(sys.argv[1]), int(sys.argv[2])\n"
    "if memory > 0: resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))\n"
    "if tasks > 0: resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


@dataclass(frozen=True)
class SandboxSettings:
    """How student kernels are confined (set in ``nbgrader_config.py`` or on the command line).

    ``memory_mb``: private memory per kernel in MiB (0: no limit). ``processes``: processes and
    threads per kernel (0: no limit; TensorFlow and the kernel themselves use about 40).
    ``user``: the unprivileged uid:gid that a grader running as root drops to. ``read_only``:
    further folders to show read-only (data sets on a shared disk, say). ``enabled``: False runs
    kernels unsandboxed on purpose (no warning).
    """

    enabled: bool = True
    memory_mb: int = 4096
    processes: int = 256
    user: str = "65534:65534"
    read_only: tuple[str, ...] = field(default_factory=tuple)


@functools.lru_cache(maxsize=1)
def available() -> str:
    """``""`` when bubblewrap works here, else the reason it does not."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "the command `bwrap` was not found (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = [bwrap, *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--"]
    probe += [*_become_unprivileged(SandboxSettings()), "true"]
    try:
        finished = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return f"`bwrap` could not be started: {error}"
    if finished.returncode != 0:
        return f"`bwrap` cannot create namespaces here: {finished.stderr.strip() or finished.returncode}"
    return ""


_warned = False


def warn_unsandboxed(reason: str) -> None:
    """Say once per process, on stderr, that student code runs with the grader's rights."""
    global _warned
    if _warned:
        return
    _warned = True
    line = "!" * 100
    print(
        f"{line}\nWARNING: student code runs UNSANDBOXED: {reason}.\n"
        "It can read solutions/, the gradebook and other submissions, use the network and exhaust memory.\n"
        f"Install bubblewrap to grade safely (README.md, 'The sandbox').\n{line}",
        file=sys.stderr,
        flush=True,
    )


def _namespaces() -> list[str]:
    """Everything unshared. As root, bwrap runs privileged (no user namespace: see _become_unprivileged)."""
    if os.geteuid() == 0:
        return ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    return ["--unshare-all", "--unshare-user"]


def _become_unprivileged(settings: SandboxSettings) -> list[str]:
    """As root, inside the sandbox: become ``settings.user`` in a user namespace of the kernel's own.

    Linux does not apply ``RLIMIT_NPROC`` to root, and counts it per user *and* user namespace:
    the unprivileged user makes the limit bite, its own namespace makes it count this kernel only.
    """
    if os.geteuid() != 0:
        return []
    uid, _, gid = settings.user.partition(":")
    return ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", "--", "unshare", "--user", "--"]


def owner(settings: SandboxSettings) -> tuple[int, int] | None:
    """The (uid, gid) that must own the writable folder, or None when it is the grader itself."""
    if os.geteuid() != 0 or not settings.enabled:
        return None
    uid, _, gid = settings.user.partition(":")
    return int(uid), int(gid or uid)


def _system_binds() -> list[str]:
    args = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    return args


def _python_binds(course_package: Path, extra: tuple[str, ...]) -> list[str]:
    """The Python installation(s), the course package (not the repository around it) and ``extra``."""
    import site

    folders = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    user_site = Path(site.getusersitepackages())
    if user_site.is_dir():
        folders.add(user_site.resolve())
    folders.add(course_package.resolve())
    folders.update(Path(p).resolve() for p in extra)
    system = ("/usr", "/bin", "/sbin", "/lib", "/etc")
    shown = [f for f in sorted(folders) if f.exists() and not any(f == Path(s) or Path(s) in f.parents for s in system)]
    return _parent_folders(shown) + [arg for f in shown for arg in ("--ro-bind", str(f), str(f))]


def _parent_folders(paths) -> list[str]:
    """World-readable folders above the mount points (bwrap would create them private to root)."""
    parents = sorted({parent for path in paths for parent in Path(path).parents if parent != Path("/")})
    return [arg for parent in parents for arg in ("--perms", "0755", "--dir", str(parent))]


def kernel_environment(env: dict[str, str], folder: Path, course_root: Path) -> dict[str, str]:
    """The variables the kernel keeps: Python/TensorFlow/Keras/course settings, nothing secret."""
    kept = {
        name: value for name, value in env.items() if name in ENVIRONMENT_NAMES or name.startswith(ENVIRONMENT_PREFIXES)
    }
    python_bin = str(Path(sys.executable).parent)
    kept.update(
        PATH=f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        HOME=str(folder / "home"),
        TMPDIR="/tmp",
        XDG_CACHE_HOME=str(folder / "home" / ".cache"),
        MPLCONFIGDIR=str(folder / "home" / ".cache" / "matplotlib"),
        COURSE_LIB_CACHE=str(folder / "home" / ".cache" / "introspecting-deep-networks"),
        PYTHONPATH=str(course_root),
    )
    return kept


def kernel_command(
    kernel_argv: list[str], folder: Path, env: dict[str, str], settings: SandboxSettings, *, course_package: Path
) -> list[str]:
    """``kernel_argv`` wrapped in bubblewrap (and ``setpriv`` as root), with the limits of ``settings``."""
    bwrap = shutil.which("bwrap")
    assert bwrap, "kernel_command needs bubblewrap; check sandbox.available() first"
    args = [bwrap, *_namespaces(), "--die-with-parent", "--new-session"]
    # the kernel's /tmp first: what is mounted later under /tmp (the folder, a course or Python
    # installed below the grader's /tmp) stays visible on top of it
    args += ["--bind", str(folder / "tmp"), "/tmp"]
    args += _system_binds()
    args += _python_binds(course_package, settings.read_only)
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += [*_parent_folders([folder]), "--bind", str(folder), str(folder), "--chdir", str(folder)]
    args += ["--clearenv"]
    for name, value in sorted(kernel_environment(env, folder, course_package.parent).items()):
        args += ["--setenv", name, value]
    memory = settings.memory_mb * 1024 * 1024
    limits = [kernel_argv[0], "-c", _SET_LIMITS, str(memory), str(settings.processes)]
    return [*args, "--", *_become_unprivileged(settings), *limits, *kernel_argv]


def prepare_folder(folder: Path, settings: SandboxSettings, *, course_cache: Path | None = None) -> None:
    """Make ``folder`` the kernel's writable world: ``home/``, ``tmp/``, copies of the course's caches.

    The small caches (the parsed MNIST subset, the generated Ising data, matplotlib's font list)
    are copied in, so that each kernel starts as fast as the instructor's, and a student can only
    spoil their own copy.
    """
    cache = folder / "home" / ".cache"
    for sub in ("tmp", "home", "home/.cache/matplotlib", "home/.cache/introspecting-deep-networks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    if course_cache is not None and course_cache.is_dir():
        for item in course_cache.glob("*.npz"):
            if item.stat().st_size < 64 * 1024 * 1024:
                shutil.copy2(item, cache / "introspecting-deep-networks" / item.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import matplotlib

            for item in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
                shutil.copy2(item, cache / "matplotlib" / item.name)
    except Exception:  # noqa: BLE001 - without the font list matplotlib rebuilds it, a little slower
        pass
    give_to_sandbox_user(folder, settings)


def give_to_sandbox_user(folder: Path, settings: SandboxSettings) -> None:
    """As root, hand ``folder`` (and everything in it) to the unprivileged sandbox user."""
    ids = owner(settings)
    if ids is None:
        return
    for root, dirs, files in os.walk(folder):
        os.chown(root, *ids)
        for name in dirs + files:
            os.chown(os.path.join(root, name), *ids, follow_symlinks=False)
