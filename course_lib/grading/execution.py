"""Executing submissions: sandboxed kernels, dead kernels that keep their scores, and Dask workers.

Three pieces, each usable on its own:

* :class:`SandboxedExecute` — nbgrader's ``Execute`` preprocessor with every kernel started by
  :class:`SandboxedKernelManager` (under bubblewrap, :mod:`course_lib.grading.sandbox`), in a fresh
  folder of its own, over IPC sockets (no TCP port, no "running over TCP without encryption"
  warning), with the kernel's own stdout/stderr kept in a log instead of the grader's terminal.
  When the kernel dies in the middle of the notebook (out of memory, ``os._exit``, a crash) the
  cells that ran keep their outputs and so their scores; the cell where it died and every code
  cell after it get an error output "the kernel died …", so their tests score zero and the feedback
  says why. ``nbgrader_config.py`` names this class in place of ``nbgrader.preprocessors.Execute``,
  so plain ``nbgrader autograde`` behaves the same.

* :func:`execute_notebook` — the whole execution of one notebook as a pure function of data:
  notebook JSON and the assignment's other files in, executed notebook JSON out. It needs only
  ``course_lib`` and the kernel's Python packages, so it runs on any Dask worker.

* :class:`ParallelAutograde` — nbgrader ``autograde`` for a batch, with the executions on Dask.
  nbgrader's gradebook is a SQLite file with one writer, so the coordinator keeps everything that
  touches the gradebook and the grading directory, serially, and only farms out execution:

  1. for each student, nbgrader's own ``autograde`` runs with :class:`DispatchExecution` in place
     of execution: nbgrader sanitises the submission exactly as usual (clear outputs, restore
     test cells from the gradebook, ...), and the sanitised notebook is sent to a worker;
  2. as executions finish (in any order), nbgrader's ``autograde`` runs again for that student
     with :class:`CollectExecution` in place of execution: it re-sanitises (deterministically,
     checked) and takes the executed notebook from the worker; the rest of the configured
     preprocessors (stderr relabelling, output limits, saving the grades) run as in a serial run.

  So scores, feedback, formgrader and the CSV export are nbgrader's, whatever the number of
  workers. A worker that dies mid-batch loses nothing: Dask runs its tasks again on another
  worker. An execution that fails or hangs costs only its own submission (cell timeouts, a
  per-notebook time limit), never the batch.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import from_dict
from nbgrader.preprocessors import Execute
from nbgrader.utils import setenv
from traitlets import Bool, Dict, Integer, List, Unicode

from course_lib.grading import sandbox

__all__ = [
    "add_incident_column",
    "CollectExecution",
    "DispatchExecution",
    "ParallelAutograde",
    "SandboxedExecute",
    "SandboxedKernelManager",
    "execute_notebook",
    "failure_cause",
    "take_incidents",
]

KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
COURSE_PACKAGE = Path(__file__).resolve().parents[1]
MAX_FILES_BYTES = 200 * 1024 * 1024  # the assignment's other files sent to a worker with each notebook

# (assignment, student, notebook) -> what went wrong during execution; read by the pipeline.
_INCIDENTS: dict[tuple[str, str, str], str] = {}
_INCIDENTS_LOCK = threading.Lock()


def take_incidents(assignment: str, student: str) -> list[str]:
    """The execution incidents recorded for one student's notebooks since the last call (and forget them)."""
    with _INCIDENTS_LOCK:
        keys = [k for k in _INCIDENTS if k[:2] == (assignment, student)]
        return [f"{k[2]}: {_INCIDENTS.pop(k)}" for k in sorted(keys)]


def _record_incident(resources, text: str | None) -> None:
    info = (resources or {}).get("nbgrader", {})
    if text and info:
        with _INCIDENTS_LOCK:
            _INCIDENTS[(info.get("assignment"), info.get("student"), info.get("notebook"))] = text


def failure_cause(log: str, error: str = "") -> str:
    """The exception line of the last traceback in an nbgrader log.

    nbgrader's own error text only says "Please see the above traceback"; the traceback is in its log.
    """
    cause, in_traceback = None, False
    for line in (log or "").splitlines():
        if "Traceback (most recent call last)" in line:
            in_traceback = True
        elif in_traceback and line.strip() and not line[0].isspace():
            cause, in_traceback = line.strip(), False
    if cause:
        return cause
    text = (error or "").strip().splitlines()
    return text[-1] if text else "unknown error"


# ---------------------------------------------------------------------------------------- kernels


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel lives in ``folder``: IPC sockets there, stdout/stderr to a log file,
    and, with ``settings``, the kernel command wrapped in bubblewrap."""

    folder: Path | None = None
    settings: sandbox.SandboxSettings | None = None
    environment: dict | None = None

    async def _async_pre_start_kernel(self, **kw):
        folder = self.folder
        if folder is not None:
            (folder / ".kernel").mkdir(exist_ok=True)
            self.transport = "ipc"
            self.ip = str(folder / ".kernel" / "kernel")
            self.connection_file = str(folder / ".kernel" / "connection.json")
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        if self.environment:
            kw["env"] = {**(kw.get("env") or os.environ), **self.environment}
        if folder is None:
            return kernel_cmd, kw
        log = open(folder / ".kernel" / "output.log", "ab")  # noqa: SIM115 - the kernel process owns it
        kw.update(stdout=log, stderr=log, cwd=str(folder))
        if self.settings is not None:
            sandbox.give_to_sandbox_user(folder, self.settings)
            kernel_cmd = sandbox.kernel_command(
                kernel_cmd, folder, kw.get("env") or dict(os.environ), self.settings, course_package=COURSE_PACKAGE
            )
        return kernel_cmd, kw

    async def _async_interrupt_kernel(self):
        """Interrupt by message: a signal to the launcher would not cross the sandbox's session."""
        if self.settings is None:
            return await super()._async_interrupt_kernel()
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager binds the name to its own method

    def kill_now(self) -> None:
        """SIGKILL the kernel's process group (the watchdog of a notebook that runs too long)."""
        process = getattr(self.provisioner, "process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)


# ---------------------------------------------------------------------------------------- execute


def _error_output(name: str, text: str):
    return from_dict({"output_type": "error", "ename": name, "evalue": text, "traceback": [f"{name}: {text}"]})


def _cell_label(cell, index: int) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


_TROUBLE = re.compile(r"error|killed|fatal|abort|segmentation|memory|core dumped|terminate", re.IGNORECASE)


def _tail(path: Path, lines: int = 3) -> str:
    """The last lines of the kernel's own output that speak of trouble (not its start-up banner)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join([line.strip() for line in text if _TROUBLE.search(line)][-lines:])


class SandboxedExecute(Execute):
    """nbgrader's ``Execute``, with sandboxed kernels (see module docstring) and dead kernels that keep scores."""

    sandbox = Bool(True, help="run each kernel under bubblewrap (when bwrap works here)").tag(config=True)
    memory_mb = Integer(4096, help="private memory per kernel in MiB (RLIMIT_DATA); 0: no limit").tag(config=True)
    processes = Integer(256, help="processes + threads per kernel (RLIMIT_NPROC); 0: no limit").tag(config=True)
    sandbox_user = Unicode("65534:65534", help="uid:gid a grader running as root drops to").tag(config=True)
    read_only = List(Unicode(), [], help="further folders shown read-only inside the sandbox").tag(config=True)
    notebook_timeout = Integer(
        3600, help="seconds for a whole notebook; past it the kernel is killed and the rest scores 0"
    ).tag(config=True)
    environment = Dict(Unicode(), {}, help="further variables for the kernel (sent along to Dask workers)").tag(
        config=True
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)  # nbgrader's Execute sets its own
        super().__init__(*args, **kwargs)

    def settings(self) -> sandbox.SandboxSettings | None:
        """The sandbox for the next kernel, or None (bwrap switched off or unusable: warned once)."""
        if not self.sandbox:
            return None
        reason = sandbox.available()
        if reason:
            sandbox.warn_unsandboxed(reason)
            return None
        return sandbox.SandboxSettings(
            memory_mb=self.memory_mb, processes=self.processes, user=self.sandbox_user, read_only=tuple(self.read_only)
        )

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.folder, km.settings, km.environment = self._folder, self._settings, dict(self.environment)
        return km

    def preprocess(self, nb, resources=None, km=None):
        resources = resources if resources is not None else {}
        _quiet_kernel_clients()
        source = (resources.get("metadata") or {}).get("path")  # the notebook's folder (nbgrader sets it)
        self._settings = self.settings()
        self._folder = Path(tempfile.mkdtemp(prefix="course-kernel-"))
        self._died, self._timed_out = None, False
        timer = None
        try:
            if source:
                _copy_assignment_files(Path(source), self._folder)
            from course_lib.data import cache_dir

            sandbox.prepare_folder(
                self._folder,
                self._settings or sandbox.SandboxSettings(enabled=False, user=""),
                course_cache=cache_dir(),
            )
            if self.notebook_timeout and self.notebook_timeout > 0:
                timer = threading.Timer(self.notebook_timeout, self._out_of_time)
                timer.daemon = True
                timer.start()
            try:
                nb, resources = super().preprocess(nb, resources, km=km)
            except (DeadKernelError, RuntimeError) as error:
                if self._died is not None or "died" not in str(error).lower():
                    raise
                # the kernel did not even start: a broken sandbox or environment, not the student's code
                raise RuntimeError(f"{error}; the kernel's output: {self._kernel_output() or 'none'}") from None
        finally:
            if timer is not None:
                timer.cancel()
            shutil.rmtree(self._folder, ignore_errors=True)
        _record_incident(resources, self._died)
        resources.setdefault("course_lib", {})["incident"] = self._died
        return nb, resources

    def _out_of_time(self) -> None:
        self._timed_out = True
        if isinstance(self.km, SandboxedKernelManager):
            self.km.kill_now()

    def _kernel_output(self) -> str:
        return _tail(self._folder / ".kernel" / "output.log")

    def preprocess_cell(self, cell, resources, index):
        if self._died is not None:
            if cell.cell_type == "code":
                cell.outputs = [_error_output(NOT_RUN, f"not run: {self._died}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cause = (
                f"killed after the notebook's time limit of {self.notebook_timeout} s"
                if getattr(self, "_timed_out", False)
                else "out of memory?"
            )
            output = self._kernel_output()
            self._died = f"the kernel died ({cause}) in {_cell_label(cell, index)}" + (
                f"; its last output: {output}" if output else ""
            )
            cell.outputs.append(_error_output(KERNEL_DIED, self._died))
            return cell, resources


def _copy_assignment_files(source: Path, folder: Path) -> None:
    """The assignment's other files (data, helper modules) next to the notebook; never a notebook."""
    if not source.is_dir():
        return
    for path in source.rglob("*"):
        if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in path.parts:
            target = folder / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def _assignment_files(source: Path) -> dict[str, bytes]:
    files, total = {}, 0
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in path.parts:
                total += path.stat().st_size
                if total > MAX_FILES_BYTES:
                    raise ValueError(f"the files next to the notebook in {source} exceed {MAX_FILES_BYTES} bytes")
                files[str(path.relative_to(source))] = path.read_bytes()
    return files


EXECUTION_TRAITS = (
    "timeout",
    "timeout_func",
    "startup_timeout",
    "interrupt_on_timeout",
    "raise_on_iopub_timeout",
    "iopub_timeout",
    "error_on_timeout",
    "extra_arguments",
    "kernel_name",
    "record_timing",
    "sandbox",
    "memory_mb",
    "processes",
    "sandbox_user",
    "read_only",
    "notebook_timeout",
    "environment",
)


def execute_notebook(notebook_json: str, files: dict[str, bytes], options: dict) -> dict:
    """Execute one notebook as :class:`SandboxedExecute` would, from data only (a Dask task).

    ``files``: the assignment's other files by relative path; ``options``: trait values of
    :class:`SandboxedExecute`. Returns ``{"notebook": executed JSON, "incident": text or None}``.
    """
    _quiet_kernel_clients()
    nb = nbformat.reads(notebook_json, as_version=4)
    with tempfile.TemporaryDirectory(prefix="course-notebook-") as scratch:
        for name, content in files.items():
            target = Path(scratch) / name
            if Path(scratch).resolve() not in target.resolve().parents:
                raise ValueError(f"refusing to write {name!r} outside the notebook's folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        executor = SandboxedExecute(**options)
        with setenv(NBGRADER_EXECUTION="autograde"):  # as nbgrader's autograde sets it around execution
            nb, resources = executor.preprocess(nb, {"metadata": {"path": scratch}})
    return {"notebook": nbformat.writes(nb), "incident": resources.get("course_lib", {}).get("incident")}


class _ClosedLoopFilter(logging.Filter):
    """Drop asyncio's reports about kernel-client sockets closed after their event loop."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return "Event loop is closed" not in f"{record.getMessage()} {error}"


_CLOSED_LOOP_FILTER = _ClosedLoopFilter()


def _quiet_kernel_clients() -> None:
    """No kernel-launcher chatter: 'Event loop is closed' tracebacks are not the instructor's concern."""
    asyncio_log = logging.getLogger("asyncio")
    if _CLOSED_LOOP_FILTER not in asyncio_log.filters:
        asyncio_log.addFilter(_CLOSED_LOOP_FILTER)
    if not getattr(sys.unraisablehook, "_course_lib", False):
        sys.unraisablehook = _unraisable_hook(sys.unraisablehook)


def _unraisable_hook(previous):
    """Socket finalisers that find their event loop closed are not worth a traceback; anything else is."""

    def hook(unraisable):
        if not (isinstance(unraisable.exc_value, RuntimeError) and "Event loop is closed" in str(unraisable.exc_value)):
            previous(unraisable)

    hook._course_lib = True
    return hook


def _forwarded_environment() -> dict[str, str]:
    keep = ("TF_", "KERAS_", "COURSE_LIB_", "PYTHONWARNINGS")
    return {k: v for k, v in os.environ.items() if k.startswith(keep) and k != "COURSE_LIB_CACHE"}


def _code_digest(nb) -> str:
    """What execution depends on: the code cells' sources, in order."""
    hasher = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            hasher.update(cell.source.encode() + b"\0")
    return hasher.hexdigest()


# ---------------------------------------------------------------------------------------- parallel


@dataclass
class _Batch:
    """The executions of one parallel autograde run, shared by the two nbgrader passes."""

    client: object
    options: dict = field(default_factory=dict)
    futures: dict = field(default_factory=dict)  # (student, notebook) -> (digest, Future)


_CURRENT: _Batch | None = None


def _key(resources) -> tuple[str, str]:
    info = resources["nbgrader"]
    return info["student"], info["notebook"]


class DispatchExecution(SandboxedExecute):
    """First pass: send the sanitised notebook to a Dask worker instead of executing it here."""

    def preprocess(self, nb, resources=None, km=None):
        batch = _CURRENT
        assert batch is not None, "DispatchExecution runs only inside ParallelAutograde"
        files = _assignment_files(Path((resources.get("metadata") or {}).get("path") or "."))
        options = {name: getattr(self, name) for name in EXECUTION_TRAITS}
        # the grader's TensorFlow/Keras/course settings travel with the notebook to other machines
        options["environment"] = {**_forwarded_environment(), **self.environment}
        student, notebook = _key(resources)
        future = batch.client.submit(
            execute_notebook,
            nbformat.writes(nb),
            files,
            options,
            pure=False,
            key=f"execute-{student}-{notebook}-{uuid.uuid4().hex}",
        )
        batch.futures[(student, notebook)] = (_code_digest(nb), future)
        return nb, resources


class CollectExecution(SandboxedExecute):
    """Second pass: take the executed notebook from the worker (or execute here if the notebook changed)."""

    def preprocess(self, nb, resources=None, km=None):
        batch = _CURRENT
        entry = batch.futures.get(_key(resources)) if batch is not None else None
        if entry is None or entry[0] != _code_digest(nb):
            return super().preprocess(nb, resources, km=km)  # not dispatched, or sanitised differently: run here
        try:
            result = entry[1].result()
        except Exception as error:  # noqa: BLE001 - reported as nbgrader reports its own execution failures
            raise RuntimeError(f"the execution on a Dask worker failed: {type(error).__name__}: {error}") from None
        executed = nbformat.reads(result["notebook"], as_version=4)
        _record_incident(resources, result["incident"])
        resources.setdefault("course_lib", {})["incident"] = result["incident"]
        return executed, resources


def _replace_execute(preprocessors, replacement: str) -> list:
    names = [p if isinstance(p, str) else f"{p.__module__}.{p.__name__}" for p in preprocessors]
    executes = ("nbgrader.preprocessors.Execute", f"{__name__}.SandboxedExecute")
    if not any(n in executes for n in names):
        raise ValueError(f"no execution step in Autograde.autograde_preprocessors: {names}")
    return [f"{__name__}.{replacement}" if n in executes else n for n in names]


@dataclass
class ParallelAutograde:
    """Autograde many students with the executions on Dask (module docstring).

    ``jobs``: workers of a local cluster (``distributed.LocalCluster``, one single-threaded process
    each); ``scheduler``: the address of a running Dask scheduler instead (``tcp://host:8786``).
    """

    jobs: int = 2
    scheduler: str | None = None

    @contextlib.contextmanager
    def client(self):
        _quiet_kernel_clients()
        from distributed import Client, LocalCluster

        for name in ("distributed", "tornado"):
            logging.getLogger(name).setLevel(logging.ERROR)
        if self.scheduler:
            with Client(self.scheduler, timeout="60s") as client:
                yield client
            return
        with warnings.catch_warnings():  # "port 8787 in use", "install bokeh for the dashboard": not for graders
            warnings.simplefilter("ignore", UserWarning)
            cluster = LocalCluster(
                n_workers=self.jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                memory_limit=0,  # the kernels are limited by the sandbox, not the workers
            )
        with cluster, Client(cluster) as client:
            yield client

    def run(self, api_factory, config, assignment: str, students) -> dict[str, dict]:
        """nbgrader ``autograde`` of ``students`` → ``{student: nbgrader's result dict}``, in batch order.

        ``api_factory(config)`` returns an ``NbGraderAPI`` for a configuration.
        """
        global _CURRENT
        preprocessors = list(config.Autograde.autograde_preprocessors)
        dispatch, collect = copy.deepcopy(config), copy.deepcopy(config)  # Config.copy() shares sections
        dispatch.Autograde.autograde_preprocessors = _replace_execute(preprocessors, "DispatchExecution")[:1]
        collect.Autograde.autograde_preprocessors = _replace_execute(preprocessors, "CollectExecution")
        results: dict[str, dict] = {}
        with self.client() as client:
            _CURRENT = _Batch(client)
            try:
                dispatcher, collector = api_factory(dispatch), api_factory(collect)
                pending = {}
                for student in students:
                    outcome = dispatcher.autograde(assignment, student, force=True, create=True)
                    if not outcome.get("success"):
                        results[student] = outcome  # nbgrader could not even sanitise it
                        continue
                    pending[student] = [f for (s, _), (_, f) in _CURRENT.futures.items() if s == student]
                from distributed import wait

                while pending:
                    futures = [f for fs in pending.values() for f in fs]
                    wait(futures, return_when="FIRST_COMPLETED")
                    for student in [s for s, fs in pending.items() if all(f.done() for f in fs)]:
                        results[student] = collector.autograde(assignment, student, force=True, create=True)
                        del pending[student]
            finally:
                _CURRENT = None
        return {student: results[student] for student in students}


INCIDENT_COLUMN = "execution_incident"


def add_incident_column(csv_path: Path, reports: Path) -> None:
    """Add a column to nbgrader's CSV export: what went wrong while executing each student's notebook.

    Read from ``<reports>/<assignment>_incidents.json`` (written by the pipeline after autograding);
    empty for a student whose notebook ran to its end.
    """
    import csv
    import json

    notes = {}
    for path in sorted(Path(reports).glob("*_incidents.json")):
        assignment = path.name[: -len("_incidents.json")]
        for student, texts in json.loads(path.read_text(encoding="utf-8")).items():
            notes[(assignment, student)] = "; ".join(texts)
    with open(csv_path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
        fields = list(rows[0].keys()) if rows else []
    if not rows or INCIDENT_COLUMN in fields:
        return
    with open(csv_path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=[*fields, INCIDENT_COLUMN])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, INCIDENT_COLUMN: notes.get((row.get("assignment"), row.get("student_id")), "")})
