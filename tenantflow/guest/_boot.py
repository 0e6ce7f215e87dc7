"""The guest's main loop: wait for a job, run it, report, repeat.

A warm-pool interpreter sits in :func:`main` blocked on its first message,
with CPython already booted. A job is either ``exec`` (run source text, as a
notebook cell) or ``call`` (import ``module:function`` from ``/code`` and call
it with JSON arguments). Each job ends with exactly one ``done`` message.
"""

from __future__ import annotations

import os  # imported at boot: ~5 ms in the guest, paid before a pooled job arrives

from tenantflow.guest import _channel, _traceback

# Guest modules never import typing at run time: it costs ~50 ms to import in
# CPython for WASI. Annotations stay strings (``from __future__ import annotations``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_namespaces: dict[str, dict[str, Any]] = {}


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__qualname__,
        "message": str(exc),
        "traceback": _traceback.format_exception(exc),
    }


def _apply_environment(job: dict[str, Any]) -> None:
    env = job.get("env")
    cwd = job.get("cwd")
    if env is None and cwd is None:
        return
    if env is not None:
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in env.items()})
    if cwd:
        os.chdir(cwd)


def _run_exec(job: dict[str, Any]) -> Any:
    source = job["code"]
    filename = job.get("filename") or "<sandbox>"
    _traceback.remember_source(filename, source)
    key = job.get("namespace")
    namespace = _namespaces.get(key) if key else None
    if namespace is None:
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        if key:
            _namespaces[key] = namespace
    echo = bool(job.get("echo"))
    if echo:
        # The C module _ast, not ast: importing ast.py costs ~50 ms in the guest.
        import _ast

        tree: Any = compile(source, filename, "exec", _ast.PyCF_ONLY_AST)
        last = tree.body[-1] if tree.body else None
        if isinstance(last, _ast.Expr):
            tree.body.pop()
            exec(compile(tree, filename, "exec"), namespace)
            value = eval(compile(_ast.Expression(last.value), filename, "eval"), namespace)
            return None if value is None else {"repr": repr(value)}
        exec(compile(tree, filename, "exec"), namespace)
        return None
    exec(compile(source, filename, "exec"), namespace)
    return namespace.get("__result__")


def _run_call(job: dict[str, Any]) -> Any:
    module_name, _, function_name = str(job["entry"]).partition(":")
    module = __import__(module_name, fromlist=["_"])
    function = getattr(module, function_name or "run")
    return function(*job.get("args", []), **job.get("kwargs", {}))


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    try:
        _apply_environment(job)
        value = _run_call(job) if job.get("kind") == "call" else _run_exec(job)
    except _channel.ChannelClosed:
        raise
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 0:
            return {"t": "done", "ok": True, "value": None, "exit": 0}
        return {"t": "done", "ok": False, "error": _error(exc), "exit": code}
    except BaseException as exc:
        return {"t": "done", "ok": False, "error": _error(exc)}
    return {"t": "done", "ok": True, "value": value}


def main() -> None:
    """Serve jobs until the host closes the channel or says ``exit``."""
    _channel.bind()
    # The first compile() in a fresh interpreter costs ~6 ms (parser set-up): pay it while
    # booting, so a warm-pool interpreter starts a job in well under a millisecond.
    exec(compile("_ = 1\n", "<boot>", "exec"), {})
    try:
        _channel.send({"t": "ready"})
        while True:
            job = _channel.receive()
            if job.get("t") != "job":
                return
            if job.get("ack"):
                _channel.send({"t": "start"})  # the host arms the job's fuel budget now
            outcome = _run_job(job)
            _channel.flush_output()
            try:
                _channel.send(outcome)
            except (TypeError, ValueError) as exc:
                # The function returned something that is not JSON.
                _channel.send({"t": "done", "ok": False, "error": _error(exc)})
    except _channel.ChannelClosed:
        return
