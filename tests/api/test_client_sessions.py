"""The clients' secrets, egress and sessions methods over a real server on 127.0.0.1.

Every test runs twice: with :class:`AsyncClient`, and with the sync :class:`Client`
(its calls made from a worker thread, so one test body drives both). Errors must
arrive as :class:`ApiError` carrying the problem's ``type``.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import secrets
import shutil
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, get_type_hints

import pytest
from pydantic import SecretStr, ValidationError

from tenantflow.api.models.egress import (
    CredentialRuleBody,
    CredentialRuleSpec,
    EgressPolicy,
    PolicyPatch,
    SecretInfo,
    SecretList,
)
from tenantflow.api.models.sessions import ExecResult, Session
from tenantflow.client import ApiError, AsyncClient, Client, ExecEvent, StreamError, _calls
from tenantflow.sessions.models import BuiltinTarget, SessionLimits, ToolSpec
from tests.api.conftest import Running
from tests.egress.upstream import Upstream

SECRET = "ghp_Q7w6E5r4T3y2U1i0OpAs"


class Threaded:
    """The sync :class:`Client`'s methods as coroutines: each call runs in a worker thread.

    Iterators it returns (``stream_*``, ``iter_*``) are read to the end in the thread.
    """

    def __init__(self, client: Client) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            def work() -> Any:
                result = method(*args, **kwargs)
                return list(result) if isinstance(result, Iterator) else result

            return await asyncio.to_thread(work)

        return call


async def run(result: Any) -> Any:
    """What a client call gives: awaited, or an async iterator read into a list."""
    if isinstance(result, AsyncIterator):
        return [item async for item in result]
    return await result


Connect = Callable[..., Any]


@pytest.fixture(params=["async", "sync"])
async def connect(request: pytest.FixtureRequest, shared_server: Running) -> AsyncIterator[Connect]:
    """Make a client (of the parameter's kind) for a key; all are closed afterwards."""
    closers: list[Callable[[], Any]] = []

    def make(key: str, timeout: float = 60) -> Any:
        if request.param == "sync":
            client = Client(shared_server.url, key, timeout=timeout)
            closers.append(client.close)
            return Threaded(client)
        async_client = AsyncClient(shared_server.url, key, timeout=timeout)
        closers.append(async_client.close)
        return async_client

    yield make
    for close in closers:
        done = close()
        if done is not None:
            await done


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """A real HTTP upstream on 127.0.0.1 (``/echo`` answers with what it received)."""
    server = Upstream("127.0.0.1")
    yield server
    server.close()


async def new_key(srv: Running) -> str:
    """A fresh tenant's key."""
    async with AsyncClient(srv.url, srv.admin_key) as admin:
        made = await admin.create_tenant("client " + secrets.token_hex(3))
    return made.api_key.key


async def problem(call: Awaitable[Any] | AsyncIterator[Any], status: int, code: str) -> ApiError:
    """``call`` raises the client's ApiError for this problem; returns it."""
    with pytest.raises(ApiError) as info:
        await run(call)
    error = info.value
    assert (error.status, error.code, error.problem.type) == (status, code, f"/problems/{code}")
    assert error.problem.title and error.detail
    return error


# -- secrets ------------------------------------------------------------------------


def test_no_client_method_can_return_a_secret_value() -> None:
    """Secret methods return metadata or nothing, and those models have no value field."""
    for cls in (Client, AsyncClient):
        returns = {
            name: get_type_hints(getattr(cls, name))["return"]
            for name in dir(cls)
            if "secret" in name and not name.startswith("_")
        }
        assert set(returns) == {"list_secrets", "set_secret", "get_secret_info", "delete_secret"}
        assert set(returns.values()) <= {SecretInfo, SecretList, type(None)}, returns
    assert set(SecretInfo.model_fields) == {"name", "created_at", "updated_at"}
    assert set(SecretList.model_fields) == {"items"}
    # The request a value travels in does not show it either (tracebacks, logs).
    assert SECRET not in repr(_calls.set_secret("X", SECRET))


async def test_secrets_are_write_only(shared_server: Running, connect: Connect) -> None:
    key, other_key = await new_key(shared_server), await new_key(shared_server)
    tf, other = connect(key), connect(other_key)
    created = await tf.set_secret("API_TOKEN", SECRET)
    assert isinstance(created, SecretInfo) and created.name == "API_TOKEN"
    updated = await tf.set_secret("API_TOKEN", SecretStr(SECRET + "-2"))
    assert updated.created_at == created.created_at <= updated.updated_at
    # Names of only dots are refused by the secrets route (not resolved away in the URL
    # into another route); other names with dots are names like any other.
    for dots in (".", "..", "..."):
        await problem(tf.set_secret(dots, "dots"), 422, "validation-error")
    assert (await tf.set_secret(".env", "dots")).name == ".env"
    listed = await tf.list_secrets()
    assert [s.name for s in listed.items] == [".env", "API_TOKEN"]
    info = await tf.get_secret_info("API_TOKEN")
    assert info.updated_at == updated.updated_at
    for returned in (created, updated, listed, info):
        assert SECRET not in returned.model_dump_json()

    refused = await problem(tf.set_secret("bad name", SECRET), 422, "validation-error")
    assert SECRET not in str(refused) + refused.problem.model_dump_json()
    with pytest.raises(ValidationError):  # checked before sending, like the server would
        await tf.set_secret("EMPTY", "")
    assert (await other.list_secrets()).items == []
    await problem(other.get_secret_info("API_TOKEN"), 404, "not-found")

    assert await tf.delete_secret("API_TOKEN") is None
    assert await tf.delete_secret(".env") is None
    await problem(tf.get_secret_info("API_TOKEN"), 404, "not-found")
    await problem(tf.delete_secret("API_TOKEN"), 404, "not-found")
    assert (await tf.list_secrets()).items == []


# -- egress -------------------------------------------------------------------------


def loopback(upstream: Upstream) -> EgressPolicy:
    """Default deny; exactly the upstream's address and port, over http."""
    return EgressPolicy(
        allowed_hosts=["127.0.0.1"],
        schemes=["http"],
        ports=[upstream.port],
        allowed_addresses=["127.0.0.1"],
    )


async def test_egress_policy_and_workflow_overrides(
    shared_server: Running, connect: Connect, upstream: Upstream
) -> None:
    tf = connect(await new_key(shared_server))
    default = await tf.get_egress_policy()
    assert (default.default, default.allowed_hosts, default.updated_at) == ("deny", [], None)
    put = await tf.set_egress_policy(loopback(upstream))
    assert put.ports == [upstream.port] and put.updated_at is not None
    # What GET returns goes back with PUT unchanged.
    again = await tf.set_egress_policy(await tf.get_egress_policy())
    assert again.allowed_hosts == ["127.0.0.1"] and again.schemes == ["http"]
    bad = await problem(
        tf.set_egress_policy(EgressPolicy(allowed_hosts=["a/b"])), 422, "validation-error"
    )
    assert "allowed_hosts" in bad.detail

    none = await tf.get_workflow_policy("sync")
    assert none.override is None and none.effective.allowed_hosts == ["127.0.0.1"]
    patched = await tf.set_workflow_policy(
        "sync", PolicyPatch(add_hosts=["api.example.com"], methods=["GET"])
    )
    assert patched.effective.allowed_hosts == ["127.0.0.1", "api.example.com"]
    assert patched.override is not None and patched.override.methods == ["GET"]
    assert patched.effective.ports == [upstream.port]  # inherited
    listed = await tf.list_workflow_policies()
    assert [p.workflow for p in listed.items] == ["sync"]
    await problem(tf.set_workflow_policy("sync", PolicyPatch(ports=[0])), 422, "validation-error")
    assert await tf.delete_workflow_policy("sync") is None
    await problem(tf.delete_workflow_policy("sync"), 404, "not-found")
    assert (await tf.list_workflow_policies()).items == []


async def test_credential_rules_inject_a_secret_and_the_log_shows_it(
    shared_server: Running, connect: Connect, upstream: Upstream
) -> None:
    tf = connect(await new_key(shared_server))
    value = f"{SECRET}-{secrets.token_hex(4)}"  # this run's own, so upstream.seen proves it
    await tf.set_egress_policy(loopback(upstream))
    spec = CredentialRuleSpec(name="token", host="127.0.0.1", secret="API_TOKEN", schemes=["http"])
    made = await tf.create_credential_rule(spec)
    assert (made.name, made.template, made.kind) == ("token", "Bearer {secret}", "header")
    await problem(tf.create_credential_rule(spec), 409, "conflict")
    got = await tf.get_credential_rule("token")
    # A rule as GET returned it can be edited and sent back.
    replaced = await tf.set_credential_rule(
        "token", got.model_copy(update={"template": "Token {secret}"})
    )
    assert replaced.template == "Token {secret}" and replaced.created_at == made.created_at
    query = CredentialRuleBody(
        host="127.0.0.1", secret="API_TOKEN", kind="query", param="k", schemes=["http"]
    )
    assert (await tf.set_credential_rule("q", query)).kind == "query"
    assert [r.name for r in (await tf.list_credential_rules()).items] == ["q", "token"]
    renamed = await problem(tf.set_credential_rule("other", got), 422, "validation-error")
    assert "match" in renamed.detail
    await problem(
        tf.set_egress_policy(EgressPolicy(default="allow")), 409, "injection-requires-default-deny"
    )
    assert await tf.delete_credential_rule("q") is None
    await problem(tf.get_credential_rule("q"), 404, "not-found")

    # A session's fetch tool: the proxy injects the secret the client wrote; the log shows it.
    await tf.set_secret("API_TOKEN", value)
    fetch = ToolSpec(name="get", description="GET a URL", target=BuiltinTarget(name="fetch"))
    session = await tf.create_session("egress", tools=[fetch])
    code = (
        "from tenantflow.guest import tools\n"
        f"status = tools.get(url={upstream.url('/echo')!r})['status']\n"
        "try:\n"
        "    tools.get(url='http://example.com/')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "status"
    )
    result = await tf.run_python(session.id, code)
    assert result.ok and result.result == "200", result
    assert value not in result.model_dump_json()
    assert any(("Authorization", f"Token {value}") in headers for _, headers in upstream.seen)

    page = await tf.egress_log(session=session.id)
    assert [e.decision for e in page.items] == ["denied", "allowed"]
    denied, allowed = page.items
    assert (allowed.host, allowed.path, allowed.status) == ("127.0.0.1", "/echo", 200)
    assert allowed.credential_rules == ["token"] and allowed.session == session.id
    assert denied.host == "example.com" and denied.status is None
    only = await tf.egress_log(session=session.id, decision="denied")
    assert [e.id for e in only.items] == [denied.id]
    first = await tf.egress_log(session=session.id, limit=1)
    assert [e.id for e in first.items] == [denied.id] and first.next_cursor
    every = await run(tf.iter_egress_log(session=session.id, limit=1))  # follows the cursors
    assert [e.id for e in every] == [denied.id, allowed.id]
    # Datetimes go out as ISO 8601.
    since = await tf.egress_log(session=session.id, since=allowed.at)
    assert [e.id for e in since.items] == [denied.id, allowed.id]
    assert (await tf.egress_log(session=session.id, until=allowed.at)).items == []
    assert value not in page.model_dump_json()
    await problem(tf.egress_log(cursor="zzz"), 422, "validation-error")
    await tf.delete_session(session.id)
    await tf.delete_credential_rule("token")


# -- sessions -----------------------------------------------------------------------


def joined(events: list[ExecEvent], kind: str) -> str:
    return "".join(e.text for e in events if e.kind == kind)


def final(events: list[ExecEvent]) -> ExecResult:
    """The result event, which must come last and only once."""
    assert [e.kind for e in events].count("result") == 1 and events[-1].kind == "result"
    assert events[-1].result is not None
    return events[-1].result


def tar_of(files: dict[str, bytes], *, compress: bool) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz" if compress else "w") as tar:
        for name, data in files.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return raw.getvalue()


async def test_session_journey(shared_server: Running, connect: Connect) -> None:
    tf = connect(await new_key(shared_server))
    session = await tf.create_session("journey", env={"MODE": "test"})
    assert isinstance(session, Session)
    assert (session.name, session.state, session.env) == ("journey", "hibernated", {"MODE": "test"})
    sid = session.id

    # Python keeps state between calls while warm.
    first = await tf.run_python(sid, "a = 20\nprint('hi')\na + 1")
    assert (first.ok, first.stdout, first.result, first.woke, first.state_kept) == (
        True,
        "hi\n",
        "21",
        True,
        False,
    )
    second = await tf.run_python(sid, "a * 2")
    assert (second.result, second.state_kept) == ("40", True)
    assert (await tf.get_session(sid)).state == "warm"
    events = await run(
        tf.stream_python(sid, "import sys\nfor i in range(3): print(i, flush=True)\na")
    )
    assert all(isinstance(e, ExecEvent) for e in events)
    assert joined(events, "stdout") == "0\n1\n2\n"
    streamed = final(events)
    assert (streamed.stdout, streamed.result, streamed.state_kept) == ("0\n1\n2\n", "20", True)
    stopped = await tf.run_python(sid, "while True: pass", timeout=0.5)
    assert not stopped.ok and stopped.limit == "deadline"

    # Shell, plain and streamed.
    shell = await tf.run_shell(sid, "echo $MODE; exit 3")
    assert (shell.stdout, shell.exit_code) == ("test\n", 3)
    events = await run(tf.stream_shell(sid, "for i in 1 2 3; do echo line $i; done; echo oops >&2"))
    assert joined(events, "stdout") == "line 1\nline 2\nline 3\n"
    assert joined(events, "stderr") == "oops\n"
    assert final(events).exit_code == 0

    # Files: binary safe, any name, listed with sizes.
    blob = bytes(range(256)) * 3
    written = await tf.write_file(sid, "data/blob.bin", blob)
    assert (written.path, written.size) == ("data/blob.bin", 768)
    assert await tf.read_file(sid, "data/blob.bin") == blob
    odd = "odd dir/ünï ?#%&+.txt"
    await tf.write_file(sid, odd, "first\n")
    assert (await tf.write_file(sid, odd, "second\n", append=True)).size == 13
    assert await tf.read_file(sid, odd) == b"first\nsecond\n"
    shown = await tf.run_shell(sid, "cat 'odd dir/ünï ?#%&+.txt' | wc -l")
    assert shown.stdout.strip() == "2"
    listing = await tf.list_files(sid)
    assert [(e.path, e.type, e.size) for e in listing.items] == [
        ("data", "dir", 0),
        ("data/blob.bin", "file", 768),
        ("odd dir", "dir", 0),
        (odd, "file", 13),
    ]
    assert listing.used_bytes == 768 + 13
    top = await tf.list_files(sid, "data", recursive=False)
    assert [e.path for e in top.items] == ["data/blob.bin"]

    # The workspace as a tar, and a tar into it.
    with tarfile.open(fileobj=io.BytesIO(await tf.download_archive(sid))) as tar:
        names = sorted(tar.getnames())
        member = tar.extractfile("data/blob.bin")
        assert member is not None and member.read() == blob
    assert names == ["data", "data/blob.bin", "odd dir", odd]
    uploaded = await tf.upload_archive(
        sid, tar_of({"pkg/mod.py": b"x = 1\n"}, compress=True), path="lib"
    )
    assert uploaded.files == 1
    assert await tf.read_file(sid, "lib/pkg/mod.py") == b"x = 1\n"
    plain = await tf.upload_archive(sid, tar_of({"notes.txt": b"n"}, compress=False))
    assert plain.files == 1 and await tf.read_file(sid, "notes.txt") == b"n"
    assert await tf.delete_file(sid, "lib", recursive=True) is None
    assert await tf.delete_file(sid, "notes.txt") is None
    await problem(tf.read_file(sid, "notes.txt"), 404, "not-found")

    # Snapshot, change, restore, fork.
    snap = await tf.create_snapshot(sid, "before")
    assert (snap.session_id, snap.label, len(snap.sha256)) == (sid, "before", 64)
    await tf.write_file(sid, "data/blob.bin", b"changed")
    restored = await tf.restore_snapshot(sid, snap.id)
    assert restored.id == sid and restored.state == "hibernated"
    assert await tf.read_file(sid, "data/blob.bin") == blob
    forked = await tf.fork_session(snap.id)
    assert forked.parent_snapshot == snap.id and forked.id != sid
    assert (forked.name, forked.env) == ("journey", {"MODE": "test"})  # copied
    in_fork = await tf.run_shell(forked.id, "wc -c < data/blob.bin; echo $MODE")
    assert in_fork.stdout.split() == ["768", "test"]
    renamed = await tf.fork_session(snap.id, name="renamed", env={})
    assert (renamed.name, renamed.env) == ("renamed", {})
    assert [s.id for s in (await tf.list_snapshots(sid)).items] == [snap.id]
    await problem(tf.delete_snapshot(forked.id, snap.id), 404, "not-found")  # not its snapshot
    assert await tf.delete_snapshot(sid, snap.id) is None
    assert (await tf.list_snapshots(sid)).items == []

    # Hibernation drops variables, keeps files.
    assert (await tf.hibernate_session(forked.id)).state == "hibernated"
    assert (await tf.run_python(forked.id, "b = 1")).ok
    await tf.hibernate_session(forked.id)
    lost = await tf.run_python(forked.id, "b")
    assert not lost.ok and lost.error is not None and lost.error.type == "NameError"
    assert lost.woke and not lost.state_kept

    listed = {s.id for s in (await tf.list_sessions()).items}
    assert listed == {sid, forked.id, renamed.id}
    for made in (sid, forked.id, renamed.id):
        assert await tf.delete_session(made) is None
    await problem(tf.get_session(sid), 404, "not-found")
    await problem(tf.delete_session(sid), 404, "not-found")
    await problem(tf.stream_python(sid, "1"), 404, "not-found")
    assert (await tf.list_sessions()).items == []


WAITS_FOR_GO = (
    "import os, time\n"
    "print('ready', flush=True)\n"
    "while not os.path.exists('go'):\n"
    "    time.sleep(0.02)\n"
    "print('done')\n"
    "'ok'"
)
"""Prints, then runs until a file appears: only a client that hands over output as it
arrives can see ``ready`` and write ``go`` (else the call ends at its deadline)."""


async def test_streamed_output_arrives_while_the_call_runs(
    shared_server: Running, connect: Connect
) -> None:
    tf = connect(await new_key(shared_server))
    sid = (await tf.create_session()).id
    if isinstance(tf, Threaded):

        def react() -> list[ExecEvent]:
            seen: list[ExecEvent] = []
            for event in tf.client.stream_python(sid, WAITS_FOR_GO, timeout=60):
                seen.append(event)
                if event.kind == "stdout" and joined(seen, "stdout") == "ready\n":
                    tf.client.write_file(sid, "go", b"")
            return seen

        events = await asyncio.to_thread(react)
    else:
        events = []
        async for event in tf.stream_python(sid, WAITS_FOR_GO, timeout=60):
            events.append(event)
            if event.kind == "stdout" and joined(events, "stdout") == "ready\n":
                await tf.write_file(sid, "go", b"")
    result = final(events)
    assert (result.ok, result.result, result.limit) == (True, "'ok'", None), result
    assert joined(events, "stdout") == result.stdout == "ready\ndone\n"
    await tf.delete_session(sid)


async def test_exec_calls_may_outlast_the_client_timeout(
    shared_server: Running, connect: Connect
) -> None:
    """A call's own deadline, not the client's (shorter) timeout, bounds the wait for it."""
    key = await new_key(shared_server)
    sid = (await connect(key).create_session()).id
    quick = connect(key, timeout=0.5)
    code = "import time\ntime.sleep(1.5)\n'slept'"
    assert (await quick.run_python(sid, code, timeout=30)).result == "'slept'"
    events = await run(quick.stream_shell(sid, "sleep 1.5; echo slept", timeout=30))
    assert final(events).stdout == "slept\n"


async def test_session_errors_are_typed(shared_server: Running, connect: Connect) -> None:
    tf = connect(await new_key(shared_server))
    other = connect(await new_key(shared_server))
    session = await tf.create_session(limits=SessionLimits(workspace_bytes=10_000))
    sid = session.id
    # Dot segments reach the server (not resolved into another route) and are refused there.
    await problem(tf.read_file(sid, "../../etc/passwd"), 400, "invalid-path")
    await problem(tf.write_file(sid, "/etc/x", b"x"), 400, "invalid-path")
    await problem(tf.delete_file(sid, ".."), 400, "invalid-path")
    quota = await problem(tf.write_file(sid, "big.bin", b"x" * 20_000), 413, "workspace-quota")
    assert quota.problem.limit == 10_000
    evil = tar_of({"../escape.txt": b"x"}, compress=False)
    await problem(tf.upload_archive(sid, evil), 422, "invalid-archive")
    await tf.write_file(sid, "dir/f.txt", b"f")
    await problem(tf.delete_file(sid, "dir"), 400, "invalid-path")  # a directory needs recursive
    await problem(tf.restore_snapshot(sid, "snap_" + "0" * 24), 404, "not-found")
    await problem(tf.fork_session("snap_" + "0" * 24), 404, "not-found")
    await problem(tf.get_session("not-a-session-id"), 422, "validation-error")
    # Another tenant's session does not exist for it, in every method.
    snap = await tf.create_snapshot(sid)
    for call in (
        other.get_session(sid),
        other.run_python(sid, "1"),
        other.stream_shell(sid, "ls"),
        other.list_files(sid),
        other.read_file(sid, "dir/f.txt"),
        other.download_archive(sid),
        other.create_snapshot(sid),
        other.restore_snapshot(sid, snap.id),
        other.fork_session(snap.id),
        other.hibernate_session(sid),
        other.delete_session(sid),
    ):
        await problem(call, 404, "not-found")
    assert await tf.read_file(sid, "dir/f.txt") == b"f"
    await tf.delete_session(sid)


async def test_stream_errors_are_the_unstreamed_problem(
    shared_server: Running, connect: Connect
) -> None:
    """A streamed call's error raises :class:`StreamError` with the problem the unstreamed
    call raises :class:`ApiError` with: same status (not the stream's 200), type, body.

    The fault is real: the session's workspace directory is replaced by a file on the
    server's disk, so waking its sandbox fails inside the call.
    """
    key = await new_key(shared_server)
    tf = connect(key)
    sid = (await tf.create_session()).id
    [workspace] = [
        p for p in shared_server.settings.data_dir.rglob("workspace") if p.parent.name == sid
    ]
    shutil.rmtree(workspace)
    workspace.write_bytes(b"not a directory")
    try:
        for route, code in (("python", "1"), ("shell", "ls")):
            # Each unstreamed 500 on a client of its own: the server closes the connection
            # after it, and the next request on that connection could meet the close.
            alone = connect(key)
            unstreamed = alone.run_python if route == "python" else alone.run_shell
            streamed = tf.stream_python if route == "python" else tf.stream_shell
            plain = await problem(unstreamed(sid, code), 500, "internal-error")
            assert not isinstance(plain, StreamError)
            error = await problem(streamed(sid, code), 500, "internal-error")
            assert isinstance(error, StreamError)
            assert error.problem == plain.problem
            assert error.problem.instance == f"/v1/sessions/{sid}/{route}"
    finally:
        workspace.unlink()
        workspace.mkdir()
    events = await run(tf.stream_python(sid, "6 * 7"))
    assert final(events).result == "42"
    await tf.delete_session(sid)


# -- the event stream parser ----------------------------------------------------------


def parse(lines: list[str]) -> list[ExecEvent]:
    stream = _calls.EventStream()
    events = [e for e in (stream.feed(line) for line in lines) if e is not None]
    stream.end()
    return events


RESULT = {
    "ok": True,
    "stdout": "a\nb",
    "stderr": "",
    "result": "1",
    "exit_code": None,
    "error": None,
    "limit": None,
    "state_kept": True,
    "woke": False,
    "duration_ms": 1.5,
    "tool_calls": [],
}


def test_event_stream_parsing() -> None:
    lines = [
        ": a comment",
        "event: stdout",
        'data: "a\\nb"',
        "",
        "event: progress",  # a kind this client does not know: skipped
        "data: {}",
        "",
        "event: stderr",
        "data:" + json.dumps("no space after the colon"),
        "",
        "event: result",  # data over two lines (joined with a newline)
        *("data: " + part for part in json.dumps(RESULT).replace(", ", ",\n", 1).split("\n")),
        "",
    ]
    events = parse(lines)
    assert [(e.kind, e.text) for e in events] == [
        ("stdout", "a\nb"),
        ("stderr", "no space after the colon"),
        ("result", ""),
    ]
    assert events[-1].result == ExecResult.model_validate(RESULT)
    # An event the stream cut before its blank line is not trusted (the SSE rule).
    with pytest.raises(StreamError) as cut:
        parse(["event: result", "data: " + json.dumps(RESULT)])
    assert cut.value.code == "stream-ended"


def stream_error(data: Any) -> StreamError:
    """What an ``error`` event with ``data`` (after some output) raises."""
    with pytest.raises(StreamError) as info:
        parse(["event: stdout", 'data: "x"', "", "event: error", f"data: {json.dumps(data)}", ""])
    assert isinstance(info.value, ApiError)
    return info.value


def test_event_stream_errors_raise() -> None:
    error = {
        "type": "/problems/workspace-quota",
        "title": "Workspace quota exceeded",
        "status": 413,
        "detail": "the workspace is full",
        "instance": "/v1/sessions/ses_x/python",
        "quota": "workspace_bytes",
        "limit": 10_000,
    }
    raised = stream_error(error)
    assert (raised.status, raised.code, raised.detail) == (413, "workspace-quota", error["detail"])
    assert raised.problem.model_dump(exclude_none=True) == error
    assert str(raised) == "413 Workspace quota exceeded: the workspace is full"
    with pytest.raises(StreamError) as cut:
        parse(["event: stdout", 'data: "x"', ""])
    assert (cut.value.code, cut.value.status) == ("stream-ended", 200)


def test_event_stream_errors_that_are_not_whole_problems_still_raise() -> None:
    """An event without a problem's members (an older server's) raises all the same: the
    title is made from the type; an unknown status is a server error (500)."""
    old = stream_error({"type": "/problems/not-found", "detail": "no session"})
    assert (old.status, old.code, old.problem.title, old.detail) == (
        500,
        "not-found",
        "Not found",
        "no session",
    )
    with_status = stream_error({"type": "/problems/not-found", "status": 404, "detail": "gone"})
    assert (with_status.status, with_status.problem.title) == (404, "Not found")
    for junk in ("oops", [], {"status": 200}, {"type": 7, "detail": ""}):
        raised = stream_error(junk)
        assert (raised.status, raised.code) == (500, "stream-error"), junk
        assert raised.detail == "the streamed call failed"


def test_file_paths_and_ids_stay_in_their_route() -> None:
    """Percent-encoding per segment; dot segments encoded so nothing resolves them away."""
    sid = "ses_" + "0" * 24
    call = _calls.read_file(sid, "a b/../c?d#e%.txt")
    assert call.path == f"/v1/sessions/{sid}/files/a%20b/%2E%2E/c%3Fd%23e%25.txt"
    assert _calls.get_secret_info("..").path == "/v1/secrets/%2E%2E"
    assert _calls.get_secret_info("a.b").path == "/v1/secrets/a.b"
    gz = gzip.compress(tar_of({"x": b"x"}, compress=False))
    assert _calls.upload_archive(sid, gz, "").headers == {"Content-Type": "application/gzip"}
