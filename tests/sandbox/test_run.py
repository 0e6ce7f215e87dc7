"""Running guest code: results, output, errors, entry points, handlers, concurrency."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from tenantflow.sandbox import HandlerError, Mounts, RunControl, Sandbox


async def test_exec_returns_value_and_stdout(sandbox: Sandbox) -> None:
    result = await sandbox.run("print('hello')\n__result__ = {'n': [1, 2, 3]}")
    assert result.ok, result.error
    assert result.stdout == "hello\n"
    assert result.value == {"n": [1, 2, 3]}
    assert result.exit_code == 0
    assert result.limit is None
    assert result.duration_s > 0


async def test_guest_exception_carries_guest_traceback(sandbox: Sandbox) -> None:
    code = (
        "def inner():\n    raise ValueError('bad input')\n\ndef outer():\n    inner()\n\nouter()\n"
    )
    result = await sandbox.run(code, filename="job.py")
    assert not result.ok
    assert result.error is not None
    assert result.error.type == "ValueError"
    assert result.error.message == "bad input"
    tb = result.error.traceback
    assert 'File "job.py", line 5, in outer' in tb
    assert 'File "job.py", line 2, in inner' in tb
    assert "raise ValueError('bad input')" in tb
    assert "/lib/tenantflow/guest" not in tb  # the runtime's own frames are hidden


async def test_exception_chain_is_reported(sandbox: Sandbox) -> None:
    code = "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    raise KeyError('k') from e\n"
    result = await sandbox.run(code)
    assert result.error is not None and result.error.type == "KeyError"
    assert "ZeroDivisionError: division by zero" in result.error.traceback
    assert "direct cause" in result.error.traceback


async def test_sys_exit_codes(sandbox: Sandbox) -> None:
    ok = await sandbox.run("import sys; print('bye'); sys.exit(0)")
    assert ok.ok and ok.exit_code == 0 and ok.stdout == "bye\n"
    failed = await sandbox.run("import sys; sys.exit(3)")
    assert not failed.ok and failed.exit_code == 3


async def test_entry_point_in_code_mount(sandbox: Sandbox, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (code / "main.py").write_text(
        "from helpers import double\n\ndef run(a, *, b):\n    return {'sum': double(a) + b}\n"
    )
    result = await sandbox.run(
        entry="main:run", args=[5], kwargs={"b": 1}, mounts=Mounts(code=code)
    )
    assert result.ok, result.error
    assert result.value == {"sum": 11}


async def test_non_json_return_value_is_a_guest_error(sandbox: Sandbox) -> None:
    result = await sandbox.run("__result__ = object()")
    assert not result.ok
    assert result.error is not None and result.error.type == "TypeError"
    assert "not JSON serializable" in result.error.message


async def test_stdout_and_stderr_are_separate_and_streamed(sandbox: Sandbox) -> None:
    seen: list[tuple[str, str]] = []
    result = await sandbox.run(
        "import sys\nprint('out 1')\nsys.stderr.write('err 1\\n')\nprint('out 2')",
        on_output=lambda stream, text: seen.append((stream, text)),
    )
    assert result.ok
    assert result.stdout == "out 1\nout 2\n"
    assert result.stderr == "err 1\n"
    assert ("stderr", "err 1\n") in seen
    assert "".join(text for stream, text in seen if stream == "stdout") == result.stdout


async def test_prints_that_look_like_protocol_messages_stay_output(sandbox: Sandbox) -> None:
    forged = '{"t":"done","ok":true,"value":"forged"}'
    result = await sandbox.run(f"print({forged!r})\n__result__ = 'real'")
    assert result.ok
    assert result.value == "real"
    assert result.stdout == forged + "\n"


async def test_environment_is_explicit_only(sandbox: Sandbox) -> None:
    result = await sandbox.run("import os\n__result__ = dict(os.environ)", env={"GREETING": "hi"})
    assert result.ok
    assert result.value == {"GREETING": "hi"}


async def test_sync_and_async_handlers(sandbox: Sandbox) -> None:
    threads: list[str] = []

    def add(a: int, b: int) -> int:
        threads.append(threading.current_thread().name)
        return a + b

    async def greet(name: str) -> dict[str, str]:
        await asyncio.sleep(0.001)
        return {"greeting": f"hello {name}"}

    code = (
        "from tenantflow.guest import call\n"
        "__result__ = [call('add', a=2, b=3), call('greet', name='ada')]"
    )
    result = await sandbox.run(code, handlers={"add": add, "greet": greet})
    assert result.ok, result.error
    assert result.value == [5, {"greeting": "hello ada"}]
    assert result.handler_calls == 2
    # Sync handlers run inline, off the event loop (on the thread wasmtime calls back on).
    assert len(threads) == 1 and threads[0] != threading.main_thread().name


async def test_handler_errors_reach_the_guest_without_host_internals(sandbox: Sandbox) -> None:
    def refuse() -> None:
        raise HandlerError("not allowed here", type="Denied")

    def crash() -> None:
        raise RuntimeError("secret host detail /etc/tenantflow.key")

    code = (
        "from tenantflow.guest import call, HostError\n"
        "out = []\n"
        "for name, kw in [('refuse', {}), ('crash', {}), ('missing', {}), ('refuse', {'x': 1})]:\n"
        "    try:\n"
        "        call(name, **kw)\n"
        "    except HostError as e:\n"
        "        out.append([e.type, str(e)])\n"
        "__result__ = out"
    )
    result = await sandbox.run(code, handlers={"refuse": refuse, "crash": crash})
    assert result.ok, result.error
    (denied, crashed, missing, bad_args) = result.value
    assert denied == ["Denied", "not allowed here"]
    assert crashed[0] == "HostError"
    assert "secret" not in crashed[1] and "tenantflow.key" not in crashed[1]
    assert missing[0] == "UnknownHandler"
    assert "'missing'" in missing[1] and "crash, refuse" in missing[1]
    assert bad_args[0] == "BadArguments"


async def test_unknown_handler_uncaught_fails_the_run_cleanly(sandbox: Sandbox) -> None:
    result = await sandbox.run("from tenantflow.guest import call\ncall('nope')")
    assert not result.ok
    assert result.error is not None and result.error.type == "HostError"
    assert "no host handler named 'nope'" in result.error.message


async def test_eight_sandboxes_at_once(sandbox: Sandbox) -> None:
    code = "from tenantflow.guest import call\nn = {i}\n__result__ = call('square', x=n)"
    results = await asyncio.gather(
        *(sandbox.run(code.format(i=i), handlers={"square": lambda x: x * x}) for i in range(8))
    )
    assert [r.value for r in results] == [i * i for i in range(8)]


async def test_run_control_stops_a_running_guest(sandbox: Sandbox) -> None:
    control = RunControl()
    task = asyncio.create_task(sandbox.run("while True:\n    pass", control=control))
    await asyncio.sleep(0.3)
    control.stop()
    result = await asyncio.wait_for(task, 5)
    assert not result.ok
    assert result.limit is not None and result.limit.value == "deadline"


async def test_guest_boot_does_not_import_slow_modules(sandbox: Sandbox) -> None:
    # typing costs ~50 ms to import in the guest: the runtime must not pull it in.
    result = await sandbox.run(
        "import sys\n__result__ = sorted({'typing', 'json'} & set(sys.modules))"
    )
    assert result.ok
    assert result.value == []


async def test_type_error_inside_a_handler_is_a_host_failure(sandbox: Sandbox) -> None:
    def buggy(x: int) -> int:
        return x + "internal detail"  # type: ignore[operator]

    code = (
        "from tenantflow.guest import call, HostError\n"
        "try:\n    call('buggy', x=1)\nexcept HostError as e:\n    __result__ = [e.type, str(e)]"
    )
    result = await sandbox.run(code, handlers={"buggy": buggy})
    assert result.ok, result.error
    assert result.value[0] == "HostError"
    assert "internal detail" not in result.value[1] and "operand" not in result.value[1]
