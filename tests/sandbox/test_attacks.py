"""Isolation promises, each tested by an attack. Every attack must end as a clean
guest-side failure, and the host must stay healthy afterwards."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tenantflow.sandbox import LimitHit, Mounts, RunResult, Sandbox


@pytest.fixture
async def mounts(tmp_path: Path) -> AsyncIterator[Mounts]:
    workspace = tmp_path / "workspace"
    code = tmp_path / "code"
    workspace.mkdir()
    code.mkdir()
    (code / "main.py").write_text("def run():\n    return 1\n")
    yield Mounts(workspace=workspace, code=code)


async def attack(sandbox: Sandbox, code: str, mounts: Mounts, **limits: object) -> RunResult:
    result = await sandbox.run(
        code, mounts=mounts, limits=sandbox.default_limits.with_(**{"wall_seconds": 5, **limits})
    )
    assert not result.ok, f"attack succeeded: {result}"
    healthy = await sandbox.run("print('still here')")
    assert healthy.ok and healthy.stdout == "still here\n"
    return result


def error_type(result: RunResult) -> str:
    assert result.error is not None
    return result.error.type


HOST_FILES = [
    "print(open('/etc/passwd').read())",
    "print(open('/workspace/../../../../etc/passwd').read())",
    "print(open('/workspace/../code/../../etc/passwd').read())",
    "print(open('../../../etc/passwd').read())",
    "import os\nprint(os.listdir('/'))",
    "import os\nprint(os.listdir('/workspace/..'))",
    "print(open('/proc/self/environ').read())",
]


@pytest.mark.parametrize("code", HOST_FILES)
async def test_host_files_are_invisible(sandbox: Sandbox, mounts: Mounts, code: str) -> None:
    result = await attack(sandbox, code, mounts)
    assert error_type(result) in {"FileNotFoundError", "PermissionError"}
    assert "root:" not in result.stdout


async def test_symlink_out_of_the_workspace(sandbox: Sandbox, mounts: Mounts) -> None:
    code = "import os\nos.symlink('/etc/passwd', 'p')\nprint(open('p').read())"
    result = await attack(sandbox, code, mounts)
    assert error_type(result) == "PermissionError"
    relative = "import os\nos.symlink('../../../../../etc/passwd', 'q')\nprint(open('q').read())"
    result = await attack(sandbox, relative, mounts)
    assert error_type(result) == "PermissionError"


async def test_host_planted_symlink_is_not_followed(sandbox: Sandbox, mounts: Mounts) -> None:
    assert mounts.workspace is not None
    os.symlink("/etc/passwd", mounts.workspace / "planted")
    result = await attack(sandbox, "print(open('/workspace/planted').read())", mounts)
    assert error_type(result) in {"PermissionError", "FileNotFoundError", "OSError"}
    assert "root:" not in result.stdout


@pytest.mark.parametrize(
    "code",
    [
        "open('/code/evil.py', 'w').write('x')",
        "open('/code/main.py', 'a').write('x')",
        "import os\nos.remove('/code/main.py')",
        "open('/lib/tenantflow/guest/__init__.py', 'w').write('x')",
        "open('/lib/sitecustomize.py', 'w').write('x')",
    ],
)
async def test_read_only_mounts(sandbox: Sandbox, mounts: Mounts, code: str) -> None:
    result = await attack(sandbox, code, mounts)
    assert error_type(result) in {"PermissionError", "OSError"}
    assert mounts.code is not None
    assert (mounts.code / "main.py").read_text() == "def run():\n    return 1\n"


@pytest.mark.parametrize(
    "code",
    [
        "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 5432))",
        "import socket\nsocket.create_connection(('localhost', 80))",
        "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:5432/')",
    ],
)
async def test_no_network(sandbox: Sandbox, mounts: Mounts, code: str) -> None:
    result = await attack(sandbox, code, mounts)
    # No socket support in WASI: the call is unsupported or the function does not exist.
    assert error_type(result) in {"OSError", "AttributeError"}


@pytest.mark.parametrize(
    "code",
    [
        "import os\nos.system('id')",
        "import subprocess\nsubprocess.run(['id'])",
        "import os\nos.execv('/bin/sh', ['sh'])",
        "import os\nos.fork()",
    ],
)
async def test_no_processes(sandbox: Sandbox, mounts: Mounts, code: str) -> None:
    result = await attack(sandbox, code, mounts)
    assert error_type(result) in {"OSError", "AttributeError"}


async def test_host_environment_is_invisible(sandbox: Sandbox, mounts: Mounts) -> None:
    os.environ["TENANTFLOW_TEST_HOST_SECRET"] = "hunter2"
    try:
        result = await sandbox.run("import os\n__result__ = dict(os.environ)", mounts=mounts)
    finally:
        del os.environ["TENANTFLOW_TEST_HOST_SECRET"]
    assert result.ok
    assert "hunter2" not in str(result.value)
    assert "PATH" not in result.value


async def test_busy_loop_hits_the_deadline(sandbox: Sandbox, mounts: Mounts) -> None:
    result = await attack(sandbox, "while True:\n    pass", mounts, wall_seconds=0.5)
    assert result.limit is LimitHit.DEADLINE
    assert 0.5 <= result.duration_s < 3


async def test_blocking_sleep_hits_the_deadline(sandbox: Sandbox, mounts: Mounts) -> None:
    result = await attack(sandbox, "import time\ntime.sleep(60)", mounts, wall_seconds=0.5)
    assert result.limit is LimitHit.DEADLINE


async def test_fuel_limit(sandbox: Sandbox, mounts: Mounts) -> None:
    result = await attack(sandbox, "while True:\n    pass", mounts, fuel=20_000_000)
    assert result.limit is LimitHit.FUEL
    assert result.fuel_used == 20_000_000
    fine = await sandbox.run(
        "print(sum(range(100)))", limits=sandbox.default_limits.with_(fuel=10**9)
    )
    assert fine.ok and fine.stdout == "4950\n"
    assert fine.fuel_used is not None and 0 < fine.fuel_used < 10**9


async def test_allocate_4_gib(sandbox: Sandbox, mounts: Mounts) -> None:
    code = "chunks = [bytearray(1 << 30) for _ in range(4)]"
    result = await attack(sandbox, code, mounts, memory_bytes=64 * 1024 * 1024)
    assert result.limit is LimitHit.MEMORY
    assert error_type(result) == "MemoryError"


async def test_print_1_gb(sandbox: Sandbox, mounts: Mounts) -> None:
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)"
    result = await attack(sandbox, code, mounts, stdout_bytes=256 * 1024)
    assert result.limit is LimitHit.OUTPUT
    assert len(result.stdout) <= 256 * 1024


async def test_stderr_flood(sandbox: Sandbox, mounts: Mounts) -> None:
    code = "import sys\nfor _ in range(10000):\n    sys.stderr.write('e' * 1000)"
    result = await attack(sandbox, code, mounts, stderr_bytes=64 * 1024)
    assert result.limit is LimitHit.OUTPUT
    assert len(result.stderr) <= 64 * 1024


async def test_write_past_workspace_quota(sandbox: Sandbox, mounts: Mounts) -> None:
    code = (
        "with open('big', 'wb') as f:\n    for _ in range(64):\n        f.write(b'a' * (1 << 20))\n"
    )
    result = await attack(sandbox, code, mounts, workspace_bytes=4 * 1024 * 1024)
    assert result.limit is LimitHit.QUOTA


async def test_too_many_open_files(sandbox: Sandbox, mounts: Mounts) -> None:
    code = "import time\nfiles = [open(f'f{i}', 'w') for i in range(200)]\ntime.sleep(1)"
    result = await attack(sandbox, code, mounts, open_files=32)
    assert result.limit is LimitHit.OPEN_FILES


async def test_deep_recursion(sandbox: Sandbox, mounts: Mounts) -> None:
    result = await attack(sandbox, "def f(n):\n    return f(n + 1)\nf(0)", mounts)
    assert error_type(result) == "RecursionError"
    unbounded = "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)"
    await attack(sandbox, unbounded, mounts)


@pytest.mark.parametrize(
    "frame",
    [
        "garbage that is not json",
        "[1, 2, 3]",
        '{"t": "reply", "id": 99, "ok": true}',
        '{"t": "nonsense"}',
        '{"t": "out"}',
    ],
)
async def test_forged_bridge_messages(sandbox: Sandbox, mounts: Mounts, frame: str) -> None:
    code = (
        f"import sys\nsys.__stdout__.write({frame!r} + '\\n')\n"
        "sys.__stdout__.flush()\nprint('after')"
    )
    result = await attack(sandbox, code, mounts)
    assert error_type(result) == "ProtocolError"
    assert "after" not in result.stdout


async def test_oversized_bridge_message(sandbox: Sandbox, mounts: Mounts) -> None:
    code = (
        "import sys\n"
        'sys.__stdout__.write(\'{"t":"out","d":"\' + \'a\' * (9 << 20))\n'
        "sys.__stdout__.flush()"
    )
    result = await attack(sandbox, code, mounts)
    assert error_type(result) == "ProtocolError"
    assert "message over" in (result.error.message if result.error else "")


async def test_closing_the_channel(sandbox: Sandbox, mounts: Mounts) -> None:
    result = await attack(sandbox, "import os\nos.close(1)\nos.close(0)\nprint('x')", mounts)
    assert error_type(result) in {"GuestExited", "OSError"}
