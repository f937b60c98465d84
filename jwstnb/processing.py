"""Processing runs: claim records, run a function on threads or a Dask cluster, record results.

:func:`run` takes the ``pending`` records that match search criteria, claims each one with a
compare-and-set and a lease (``processing`` until a time, held by this run), and runs
``func(record, storage)`` for it on an executor: threads in this process, or the workers of
a ``dask.distributed.Client`` (local or remote). Workers only compute: they open files by
storage key and write output bytes to storage. This process (the run's driver) keeps the
leases alive, writes each result to its record and a derived record for each output, with
lineage back to the input. A record whose worker died stays ``processing`` until its lease
expires; then :meth:`jwstnb.session.Session.release_expired` (called by the next admin run)
returns it to ``pending``. Finishing is a compare-and-set on the lease holder, so every
record ends ``completed`` or ``failed`` exactly once.

:func:`read_records` is the same fan-out for :func:`jwstnb.ingest.scan`: header reads on
the executor (by the reader ingest passes in), records back to the driver, which writes them.

Dask is optional (``pip install 'jwstnb[dask]'``); it is imported only when a Dask client
or a scheduler address is given.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import posixpath
import queue
import re
import secrets
import socket
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jwstnb.errors import JwstnbError, invalid
from jwstnb.keys import validate_key

if TYPE_CHECKING:
    from jwstnb.documents import Prepared
    from jwstnb.schema import JwstDataModel, ProcessingResult
    from jwstnb.session import Session
    from jwstnb.storage import Storage

__all__ = ["ProcessingOutput", "RunReport", "read_records", "run"]

log = logging.getLogger(__name__)

_ERROR_CHARS = 2000
_PAGE = 200  # records read per selection query


@dataclass
class ProcessingOutput:
    """What ``func`` made from one record.

    ``results``: numbers and short facts to keep in the record's processing result.
    ``data``: bytes of an output file, written to storage at ``key`` (default: under the
    run's ``output_prefix``, named after the input and the algorithm, or ``name`` when
    given). ``key`` alone (no ``data``) names a file ``func`` wrote itself. An output gets a
    derived record linked to its input; ``level``, ``data_type``, ``status``, ``tags`` and
    ``metadata`` override what it inherits. Outputs are stored ``completed`` (they are what
    processing made, so the next run over pending records does not take them); give
    ``status="pending"`` to queue them for a next step.
    """

    results: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    data: bytes | None = None
    key: str | None = None
    name: str | None = None
    level: str | None = None
    data_type: str | None = None
    status: str = "completed"
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None


@dataclass
class RunReport:
    """What a run did, by record id.

    ``completed`` / ``failed`` (``(id, error)``): records this run finished. ``skipped``:
    selected but not finished here (another run claimed it first, or this run lost its
    lease before finishing). ``lost``: its worker died; the record stays ``processing``
    until its lease expires, then returns to ``pending`` for the next run. ``outputs``: ids
    of the derived records written.
    """

    completed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        text = (
            f"{len(self.completed)} completed, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped, {len(self.outputs)} outputs"
        )
        if self.lost:
            text += f", {len(self.lost)} lost with their worker (pending again when leases end)"
        return text + f" in {self.seconds:.1f} s"


# --- what runs on a worker --------------------------------------------------------------------
# A task gets the Storage itself: it pickles by its public recipe (Storage.recipe), so a Dask
# worker rebuilds it from the same mounts and options, and threads share the driver's.


@dataclass
class _Outcome:
    """A task's small, picklable answer to the driver (output bytes stay in storage)."""

    error: str | None = None
    output: ProcessingOutput | None = None
    key: str | None = None
    size: int = 0
    seconds: float = 0.0


def _plain(value: Any) -> Any:
    """Values MongoDB stores: numpy scalars and arrays become Python numbers and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.") or "output"


def default_output_key(record_key: str, algorithm: str, prefix: str, name: str | None) -> str:
    """Where an output without a ``key`` goes: ``prefix`` + the input's folder + ``name``,
    or the input's key with ``_{algorithm}`` before its extension."""
    folder, base = posixpath.split(record_key)
    if name is None:
        stem, dot, ext = base.partition(".")
        name = f"{stem}_{_slug(algorithm)}{dot}{ext or 'fits'}"
    return validate_key(posixpath.join(prefix, folder, name) if folder else prefix + name)


def _task(
    func: Callable[[JwstDataModel, Storage], ProcessingOutput | Mapping[str, Any] | None],
    record: JwstDataModel,
    storage: Storage,
    algorithm: str,
    output_prefix: str,
) -> _Outcome:
    """Run ``func`` on one record and write its output bytes; errors become the outcome."""
    started = time.perf_counter()
    try:
        made = func(record, storage)
        output = made if isinstance(made, ProcessingOutput) else ProcessingOutput(
            results=dict(made or {})
        )
        output.results = _plain(output.results)
        output.parameters = _plain(output.parameters)
        output.metadata = _plain(output.metadata)
        key, size = output.key, 0
        if output.data is not None:
            key = key or default_output_key(
                str(record.file_path or record.file_name), algorithm, output_prefix, output.name
            )
            storage.write_bytes(validate_key(key), output.data)
            size = len(output.data)
            output.data = None  # the bytes are in storage; do not send them back
        elif key is not None:
            size = storage.size(validate_key(key))
    except Exception as exc:  # func is user code: any error fails this record, not the run
        return _Outcome(error=_error_text(exc), seconds=time.perf_counter() - started)
    return _Outcome(output=output, key=key, size=size, seconds=time.perf_counter() - started)


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."


# --- executors: threads or a Dask client, behind one small interface ---------------------------


class _Pool:
    """Threads in this process (``concurrent.futures``)."""

    lost_errors: tuple[type[BaseException], ...] = (CancelledError,)

    def __init__(self, executor: Executor | None, workers: int) -> None:
        self.owned = executor is None
        self.executor = executor or ThreadPoolExecutor(
            max_workers=max(1, int(workers)), thread_name_prefix="jwstnb-run"
        )
        self.slots = 2 * max(1, int(getattr(self.executor, "_max_workers", workers)))

    def submit(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        return self.executor.submit(fn, *args)

    def vanished(self, future: Any) -> bool:
        return False

    def cancel(self, futures: Iterable[Any]) -> None:
        for future in futures:
            future.cancel()

    def close(self) -> None:
        if self.owned:
            self.executor.shutdown(wait=True, cancel_futures=True)


class _DaskPool(_Pool):
    """The workers of a ``dask.distributed.Client``."""

    def __init__(self, client: Any, owned: bool = False) -> None:
        from distributed import KilledWorker
        from distributed.comm.core import CommClosedError

        self.client = client
        self.owned = owned
        self.lost_errors = (KilledWorker, CancelledError, CommClosedError)
        threads = sum(client.nthreads().values())
        self.slots = max(2, 2 * threads)

    def submit(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, key=name, pure=False, retries=0)

    def vanished(self, future: Any) -> bool:
        # "lost" data is recomputed by Dask while the future is held: only cancelled is gone
        return getattr(future, "status", None) == "cancelled"

    def cancel(self, futures: Iterable[Any]) -> None:
        futures = list(futures)
        if futures:
            self.client.cancel(futures)

    def close(self) -> None:
        if self.owned:  # made here from a scheduler address
            self.client.close()


def _pool(executor: Any, workers: int) -> _Pool:
    """The pool for ``executor``: None or a concurrent.futures Executor (threads), a
    ``dask.distributed.Client``, or a Dask scheduler address (``"tcp://host:8786"``)."""
    if executor is None or isinstance(executor, Executor):
        return _Pool(executor, workers)
    if isinstance(executor, str):
        try:
            from distributed import Client
        except ImportError:
            raise JwstnbError(
                f"running on the Dask cluster at {executor!r} needs Dask: "
                "pip install 'jwstnb[dask]' (or pass executor=None to use threads)"
            ) from None
        return _DaskPool(Client(executor), owned=True)  # type: ignore[no-untyped-call]
    if type(executor).__module__.split(".")[0] == "distributed":
        return _DaskPool(executor)
    raise invalid(
        "executor",
        "give None (threads), a concurrent.futures Executor, a dask.distributed.Client or "
        "a Dask scheduler address",
        repr(executor),
    )


def _drive(
    pool: _Pool,
    tasks: Iterator[tuple[str, Callable[..., Any], tuple[Any, ...], Any]],
    *,
    tick: float | None = None,
    on_tick: Callable[[], None] | None = None,
) -> Iterator[tuple[Any, Any, BaseException | None]]:
    """Keep ``pool.slots`` tasks in flight; yield ``(tag, value, error)`` as each ends.

    ``tasks`` yields ``(name, fn, args, tag)`` and is read only when a slot is free (so a
    run claims records just before they run). ``on_tick`` runs at least every ``tick``
    seconds while tasks are in flight (lease renewals).
    """
    finished: queue.Queue[Any] = queue.Queue()
    flight: dict[Any, Any] = {}

    def fill() -> None:
        while len(flight) < pool.slots:
            task = next(tasks, None)
            if task is None:
                return
            name, fn, args, tag = task
            future = pool.submit(name, fn, *args)
            flight[future] = tag
            future.add_done_callback(finished.put)

    try:
        fill()
        while flight:
            try:
                ended = [finished.get(timeout=tick)]
            except queue.Empty:
                ended = []
            while not finished.empty():
                ended.append(finished.get_nowait())
            ended += [f for f in flight if pool.vanished(f) and f not in ended]
            for future in ended:
                tag = flight.pop(future, None)
                if tag is None:
                    continue
                value: Any = None
                error: BaseException | None = None
                if pool.vanished(future):
                    error = CancelledError(f"the cluster reports the task {future.status}")
                else:
                    try:
                        value = future.result()
                    except Exception as exc:  # the executor's report of a task that did not end
                        error = exc
                yield tag, value, error
            if on_tick is not None:
                on_tick()
            fill()
    finally:
        pool.cancel(flight)


def read_records(
    storage: Storage,
    items: Sequence[tuple[str, int]],
    read_batch: Callable[
        [Storage, list[tuple[str, int]]], list[tuple[str, Prepared | None, str | None]]
    ],
    *,
    executor: Any = None,
    workers: int = 8,
    batch_size: int | None = None,
) -> Generator[tuple[str, Prepared | None, str | None], None, None]:
    """Build a record from each ``(key, size)`` on the executor, its sky fields computed
    there too (:class:`jwstnb.documents.Prepared`); yield ``(key, record, None)`` or
    ``(key, None, reason)`` as each batch ends.

    ``read_batch(storage, batch)`` makes the rows of one batch on a worker (a module-level
    function, so Dask workers import it: :func:`jwstnb.ingest.scan` passes its reader).

    Threads read one file per task; a Dask cluster reads ``batch_size`` files per task
    (default: enough batches to keep every worker thread busy a few times over, at most 100
    files each). A batch whose worker died is reported failed (scan again: it is idempotent).
    """
    pool = _pool(executor, workers)
    try:
        if batch_size is None:
            batch_size = 1 if not isinstance(pool, _DaskPool) else max(
                1, min(100, math.ceil(len(items) / (4 * pool.slots)))
            )
        batches = [list(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
        run_id = secrets.token_hex(4)
        tasks = (
            (f"jwstnb-read-{run_id}-{n}", read_batch, (storage, batch), batch)
            for n, batch in enumerate(batches)
        )
        for batch, rows, error in _drive(pool, tasks):
            if error is None:
                yield from rows
            elif isinstance(error, pool.lost_errors):
                why = f"its worker was lost ({_error_text(error)}); scan again"
                yield from ((key, None, why) for key, _size in batch)
            else:
                raise error
    finally:
        pool.close()


# --- the driver ---------------------------------------------------------------------------------

#: A run writes its results when this many wait, or when the first has waited a second.
RESULTS_WAITING = 50


def _candidates(
    session: Session, statuses: tuple[str, ...], criteria: Mapping[str, Any]
) -> Iterator[JwstDataModel]:
    """Matching records in ``statuses``, oldest upload first, each once.

    Claimed records leave the pending set, so the first page keeps bringing new ones; a page
    that holds only records seen before (claimed elsewhere meanwhile, or not writable here)
    moves the reading one page on.
    """
    seen: set[str] = set()
    page = 1
    while True:
        items = session.items(
            **criteria, status=list(statuses), page=page, page_size=_PAGE,
            sort="uploadDate", descending=False,
        )
        fresh = [r for r in items if str(r.id) not in seen]
        if not fresh:
            if len(items) < _PAGE:
                return
            page += 1
            continue
        for record in fresh:
            seen.add(str(record.id))
            yield record


def _derived(
    record: JwstDataModel,
    outcome: _Outcome,
    algorithm: str,
    run_id: str,
) -> JwstDataModel:
    """The derived record of an output: linked to its input, in the input's group."""
    from jwstnb.naming import classify
    from jwstnb.schema import JwstDataModel

    output = outcome.output
    assert output is not None and outcome.key is not None
    ident = classify(outcome.key)
    data_type = output.data_type or (record.data_type if ident.is_viewable else ident.data_type)
    tags = list(dict.fromkeys([*record.tags, *output.tags]))
    return JwstDataModel.model_validate(dict(
        file_name=posixpath.basename(outcome.key),
        file_path=outcome.key,
        file_size=outcome.size,
        file_format=ident.file_format or "unknown",
        data_type=data_type,
        processing_status=output.status,
        processing_level=output.level or record.processing_level,
        observation_base_id=record.observation_base_id,
        exposure_id=record.exposure_id,
        parent_id=str(record.id),
        derived_from=[str(record.id)],
        is_public=record.is_public,
        shared_with=list(record.shared_with),
        editors=list(record.editors),
        tags=tags,
        description=output.description,
        is_viewable=ident.is_viewable,
        image_info=record.image_info,
        sensor_info=record.sensor_info,
        metadata={
            **output.metadata,
            "derived_by": algorithm,
            "processing_run": run_id,
            "source_key": record.file_path,
        },
    ))


class _Driver:
    """One run's bookkeeping in the client process: claims, leases, results, outputs."""

    def __init__(
        self,
        session: Session,
        algorithm: str,
        parameters: Mapping[str, Any],
        lease_seconds: float,
    ) -> None:
        self.session = session
        self.algorithm = algorithm
        self.parameters = dict(parameters)
        self.lease = float(lease_seconds)
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
        self.held: dict[str, float] = {}  # record id -> when its lease was last set
        self.records: dict[str, JwstDataModel] = {}
        # Results waiting to be written: record id -> (status, result, error text).
        self.finishing: dict[str, tuple[str, ProcessingResult, str | None]] = {}
        self.waiting_since = 0.0
        self.report = RunReport()

    def claim(self, record: JwstDataModel) -> JwstDataModel | None:
        rid = str(record.id)
        claimed = self.session.claim(rid, self.worker, self.lease)
        if claimed is None:
            self.report.skipped.append(rid)
            return None
        self.held[rid] = time.monotonic()
        self.records[rid] = claimed
        return claimed

    def tasks(
        self,
        candidates: Iterable[JwstDataModel],
        limit: int | None,
        work: tuple[Callable[..., Any], Storage, str],
    ) -> Iterator[tuple[str, Callable[..., Any], tuple[Any, ...], str]]:
        """Claim ``candidates`` one at a time, as the executor has room, and yield each
        claimed record's task (``work`` is ``(func, storage, output_prefix)``); at most
        ``limit`` claims."""
        func, storage, output_prefix = work
        claimed = 0
        for record in candidates:
            if limit is not None and claimed >= limit:
                return
            taken = self.claim(record)
            if taken is None:
                continue
            claimed += 1
            rid = str(taken.id)
            task = f"{_slug(self.algorithm)}-{rid}-{self.worker.rsplit(':', 1)[-1]}"
            yield task, _task, (func, taken, storage, self.algorithm, output_prefix), rid

    def renew_due(self) -> None:
        """Extend the leases of tasks that have run for half a lease."""
        now = time.monotonic()
        for rid, since in list(self.held.items()):
            if now - since >= self.lease / 2:
                if self.session.renew(rid, self.worker, self.lease):
                    self.held[rid] = now
                else:
                    log.warning("run %s lost its lease on record %s", self.worker, rid)
                    self.held.pop(rid, None)

    def result(self, outcome: _Outcome, status: str) -> ProcessingResult:
        from jwstnb.schema import ProcessingResult

        output = outcome.output or ProcessingOutput()
        results = dict(output.results)
        if outcome.error is not None:
            results["error"] = outcome.error
        results.setdefault("seconds", round(outcome.seconds, 3))
        return ProcessingResult(
            algorithm=self.algorithm,
            status=status,
            parameters={**self.parameters, **output.parameters},
            results=results,
            output_file_path=outcome.key if status == "completed" else None,
        )

    def done(self, rid: str, outcome: _Outcome | None, error: BaseException | None) -> None:
        """Record what one task did (the only place results are written)."""
        record = self.records.pop(rid)
        self.held.pop(rid, None)
        if error is not None:
            # the worker died or the task was cancelled: keep the lease, let it expire
            log.warning("record %s: task lost (%s); pending again after its lease", rid, error)
            self.report.lost.append(rid)
            return
        assert outcome is not None
        result: ProcessingResult | None = None
        if outcome.error is None:
            try:
                result = self.result(outcome, "completed")
            except ValueError as exc:  # results the record cannot hold (pydantic's error)
                outcome = _Outcome(error=_error_text(exc), seconds=outcome.seconds)
        if result is None:
            self.wait(rid, "failed", self.result(outcome, "failed"), outcome.error)
            return
        if outcome.key is not None:
            # Confirm the claim (and start a fresh lease) before the derived record is
            # written, so an output is recorded only by the run that finishes its input.
            if not self.session.renew(rid, self.worker, self.lease):
                self.report.skipped.append(rid)
                return
            derived = _derived(record, outcome, self.algorithm, self.worker)
            out_id, _created = self.session.upsert(derived)
            self.report.outputs.append(out_id)
        self.wait(rid, "completed", result, None)

    def wait(self, rid: str, status: str, result: ProcessingResult, error: str | None) -> None:
        """Keep a record's result to write with others (now, if RESULTS_WAITING wait)."""
        if not self.finishing:
            self.waiting_since = time.monotonic()
        self.finishing[rid] = (status, result, error)
        self.flush(RESULTS_WAITING)

    def flush(self, at_least: int = 1) -> None:
        """Write the results waiting (when there are ``at_least``) in one batch
        (:meth:`Session.finish_many`); report each record finished or skipped (its lease
        was lost meanwhile)."""
        if len(self.finishing) < max(1, at_least):
            return
        waiting, self.finishing = self.finishing, {}
        finished = set(self.session.finish_many(
            self.worker, [(rid, status, result) for rid, (status, result, _e) in waiting.items()]
        ))
        for rid, (status, _result, error) in waiting.items():
            if rid not in finished:
                self.report.skipped.append(rid)
            elif status == "completed":
                self.report.completed.append(rid)
            else:
                self.report.failed.append((rid, error or "failed"))

    def tick(self) -> None:
        """Between tasks: renew the leases due; write the results that have waited a
        second (a quarter lease when that is shorter)."""
        if self.finishing and time.monotonic() - self.waiting_since >= min(1.0, self.lease / 4):
            self.flush()
        self.renew_due()


def _checked_arguments(
    criteria: Mapping[str, Any], lease_seconds: float, limit: int | None, output_prefix: str
) -> str:
    """Refuse a run's bad arguments before anything is claimed; the output prefix, checked
    as a storage key and ending in ``/``."""
    if "status" in criteria:
        raise invalid("status", "a processing run takes pending records; leave status out")
    if lease_seconds <= 0:
        raise invalid("lease_seconds", "must be positive", lease_seconds)
    if limit is not None and limit < 0:
        raise invalid("limit", "must be zero or more", limit)
    return validate_key(output_prefix.rstrip("/")) + "/"


def _statuses(session: Session) -> tuple[str, ...]:
    """The statuses a run takes records in: an admin first returns expired claims to
    ``pending``; anyone else claims an expired ``processing`` record directly."""
    if session.role == "admin":
        released = session.release_expired()
        if released:
            log.info("%d records whose lease had expired are pending again", released)
        return ("pending",)
    return ("pending", "processing")  # claim() allows an expired claim


def run(
    session: Session,
    storage: Storage,
    func: Callable[[JwstDataModel, Storage], ProcessingOutput | Mapping[str, Any] | None],
    *,
    executor: Any = None,
    lease_seconds: float = 300.0,
    limit: int | None = None,
    algorithm: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    output_prefix: str = "derived/",
    workers: int = 4,
    progress: bool = True,
    **criteria: Any,
) -> RunReport:
    """Run ``func(record, storage)`` over the pending records matching ``criteria``.

    ``criteria`` are those of :meth:`jwstnb.session.Session.search` (not ``status``: a run
    takes pending records, and for an admin first returns expired claims to pending).
    ``executor``: None (``workers`` threads here), a concurrent.futures Executor, a
    ``dask.distributed.Client`` or a scheduler address. ``func`` returns a
    :class:`ProcessingOutput`, a dict of results, or None; an exception fails that record
    with the error text. Each record is claimed for ``lease_seconds`` (renewed while its
    task runs); ``limit`` caps how many are claimed. ``algorithm`` (default: func's name)
    and ``parameters`` go into every :class:`jwstnb.schema.ProcessingResult`.
    """
    from tqdm.auto import tqdm

    output_prefix = _checked_arguments(criteria, lease_seconds, limit, output_prefix)
    name = algorithm or getattr(func, "__name__", None) or type(func).__name__
    driver = _Driver(session, name, parameters or {}, lease_seconds)
    started = time.perf_counter()
    statuses = _statuses(session)
    total = session.count(**criteria, status=list(statuses))
    if limit is not None:
        total = min(total, limit)
    pool = _pool(executor, workers)
    tasks = driver.tasks(
        _candidates(session, statuses, criteria), limit, (func, storage, output_prefix)
    )
    bar = tqdm(total=total, desc=name, unit="record", disable=not progress, leave=False)
    tick = max(0.2, min(lease_seconds / 4, 10.0))
    try:
        for rid, outcome, error in _drive(pool, tasks, tick=tick, on_tick=driver.tick):
            if error is not None and not isinstance(error, pool.lost_errors):
                raise JwstnbError(
                    f"the executor could not run {name} ({_error_text(error)}); check that "
                    "every worker has jwstnb and what func needs installed. Records this run "
                    f"claimed are pending again when their {lease_seconds:g} s lease ends"
                ) from error
            driver.done(rid, outcome, error)
            bar.update(1)
        driver.flush()
    except BaseException:
        with contextlib.suppress(Exception):  # the run's own error is the one to see
            driver.flush()  # results already made are kept, not left to expire
        raise
    finally:
        bar.close()
        pool.close()
    driver.report.seconds = time.perf_counter() - started
    return driver.report
