"""Steps: journal and replay, retries and back-off, failures, timeouts, result checks."""

from __future__ import annotations

import pytest

from tenantflow.engine import InstanceStatus
from tenantflow.engine.retry import next_delay
from tests.engine.conftest import Env

# Guest helpers: side effects are counted in files of the instance's workspace.
COUNT = """
import time
def bump(name, value=None):
    with open("count-" + name, "a") as f:
        f.write("%r\\n" % time.time())
    return value if value is not None else name
def count(name):
    try:
        with open("count-" + name) as f:
            return len(f.read().splitlines())
    except OSError:
        return 0
"""


def counts(env: Env, instance_id: str, name: str, tenant: str = "acme") -> list[float]:
    path = env.worker.workspaces.path(tenant, instance_id) / f"count-{name}"
    return [float(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_steps_commit_and_replay_skips_committed(env: Env) -> None:
    source = COUNT + (
        "def run(event, step):\n"
        "    a = step.do('a', lambda: bump('a', event['x'] + 1))\n"
        "    step.sleep('nap', '0.2 s')\n"
        "    b = step.do('b', lambda: bump('b', a * 2))\n"
        "    step.sleep('nap 2', 0.1)\n"
        "    return {'a': a, 'b': b}\n"
    )
    instance = await env.start(source, {"x": 1})
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE, done.error
    assert done.output == {"a": 2, "b": 4}
    # Two replays happened (after each sleep); each step's side effect ran once.
    assert len(counts(env, instance.id, "a")) == 1
    assert len(counts(env, instance.id, "b")) == 1
    steps = (await env.engine.status(instance.id)).steps
    assert [(s.name, s.kind, s.status) for s in steps] == [
        ("a", "do", "complete"),
        ("nap", "sleep", "complete"),
        ("b", "do", "complete"),
        ("nap 2", "sleep", "complete"),
    ]
    assert steps[0].output == 2 and steps[0].attempts == 1
    assert steps[0].started_at is not None and steps[0].ended_at is not None
    nap = steps[1]
    assert nap.wake_at is not None and nap.ended_at is not None and nap.ended_at >= nap.wake_at


@pytest.mark.parametrize(
    ("backoff", "gaps"),
    [("constant", [0.2, 0.2]), ("linear", [0.2, 0.4]), ("exponential", [0.2, 0.4])],
)
async def test_retries_with_backoff(env: Env, backoff: str, gaps: list[float]) -> None:
    source = COUNT + (
        "def flaky():\n"
        "    bump('try')\n"
        "    if count('try') < 3:\n"
        "        raise ValueError('not yet')\n"
        "    return 'ok'\n"
        "def run(event, step):\n"
        f"    return step.do('flaky', flaky, retries={{'limit': 4, 'delay': '200 ms',"
        f" 'backoff': {backoff!r}}})\n"
    )
    instance = await env.start(source)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE, done.error
    assert done.output == "ok"
    times = counts(env, instance.id, "try")
    assert len(times) == 3
    for earlier, later, gap in zip(times, times[1:], gaps, strict=False):
        assert later - earlier >= gap * 0.95
    (step,) = (await env.engine.status(instance.id)).steps
    assert (step.status, step.attempts, step.error) == ("complete", 3, None)


def test_next_delay_kinds() -> None:
    policy = {"limit": 3, "delay": 1.0, "backoff": "exponential", "max_delay": 3.0}
    assert [next_delay(policy, n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, None]
    assert next_delay({**policy, "backoff": "linear", "max_delay": None}, 3) == 3.0
    assert next_delay({**policy, "backoff": "constant"}, 2) == 1.0
    assert next_delay({"limit": 0, "delay": 1.0, "backoff": "constant"}, 1) is None


async def test_retries_exhausted_fail_the_step_and_workflow(env: Env) -> None:
    source = COUNT + (
        "def boom():\n"
        "    bump('try')\n"
        "    raise RuntimeError('always')\n"
        "def run(event, step):\n"
        "    step.do('boom', boom, retries={'limit': 2, 'delay': 0.05, 'backoff': 'constant'})\n"
    )
    instance = await env.start(source)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.ERRORED
    assert done.error is not None and done.error["type"] == "StepError"
    assert "'boom' failed after 3 attempt(s): RuntimeError: always" in done.error["message"]
    assert len(counts(env, instance.id, "try")) == 3
    (step,) = (await env.engine.status(instance.id)).steps
    assert (step.status, step.attempts) == ("failed", 3)
    assert step.error is not None and step.error["message"] == "always"


async def test_non_retryable_error_fails_at_once_and_can_be_caught(env: Env) -> None:
    source = COUNT + (
        "from tenantflow.guest import NonRetryableError, StepError\n"
        "def bad():\n"
        "    bump('try')\n"
        "    raise NonRetryableError('card declined')\n"
        "def run(event, step):\n"
        "    try:\n"
        "        step.do('charge', bad)\n"
        "    except StepError as exc:\n"
        "        handled = step.do('refund', lambda: 'refunded ' + exc.type)\n"
        "    step.sleep('then', 0.05)\n"
        "    return handled\n"
    )
    instance = await env.start(source)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE, done.error
    assert done.output == "refunded NonRetryableError"
    assert len(counts(env, instance.id, "try")) == 1  # replay re-raised without running
    steps = (await env.engine.status(instance.id)).steps
    assert (steps[0].status, steps[0].attempts) == ("failed", 1)


SPIN = COUNT + (
    "def spin():\n"
    "    bump('try')\n"
    "    while True:\n"
    "        pass\n"
    "def run(event, step):\n"
    "    try:\n"
    "        step.do('spin', spin, {options})\n"
    "    except Exception as exc:\n"
    "        return str(exc)\n"
)


async def test_step_timeout_is_enforced_by_the_host(env: Env) -> None:
    options = "timeout='300 ms', retries={'limit': 1, 'delay': 0.05, 'backoff': 'constant'}"
    source = SPIN.replace("{options}", options)
    instance = await env.start(source)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE, done.error
    assert "'spin' failed after 2 attempt(s): StepTimeout" in done.output
    assert len(counts(env, instance.id, "try")) == 2
    (step,) = (await env.engine.status(instance.id)).steps
    assert step.status == "failed" and step.error is not None
    assert step.error["type"] == "StepTimeout"


async def test_default_step_timeout_is_a_step_timeout_even_on_a_first_run(env: Env) -> None:
    # On an instance's first run a step with the default timeout is not announced to the
    # host; when it runs past the timeout the instance is replayed with every step
    # announced, so the timeout is still the step's, retried by its policy.
    env.settings.engine_step_timeout_seconds = 0.5
    source = SPIN.replace("{options}", "retries={'limit': 1, 'delay': 0.05}")
    instance = await env.start(source)
    done = await env.wait_for(instance.id, within=30)
    assert done.status is InstanceStatus.COMPLETE, done.error
    assert "'spin' failed after 2 attempt(s): StepTimeout" in done.output
    # Two attempts, plus the unannounced first run that timed out.
    assert len(counts(env, instance.id, "try")) == 3
    (step,) = (await env.engine.status(instance.id)).steps
    assert step.error is not None and step.error["type"] == "StepTimeout"


async def test_oversize_and_non_json_results_fail_naming_the_step(env: Env) -> None:
    source = (
        "def run(event, step):\n"
        "    errors = []\n"
        "    for name, fn in [('big', lambda: 'x' * (1024 * 1024 + 1)), ('obj', object)]:\n"
        "        try:\n"
        "            step.do(name, fn)\n"
        "        except Exception as exc:\n"
        "            errors.append([exc.type, str(exc)])\n"
        "    return errors\n"
    )
    instance = await env.start(source)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE, done.error
    (big_type, big), (obj_type, obj) = done.output
    assert big_type == "ResultTooLarge" and "step 'big' result is 1048579 bytes" in big
    assert obj_type == "ResultNotJSON" and "step 'obj' result is not JSON" in obj
    steps = (await env.engine.status(instance.id)).steps
    assert [(s.status, s.attempts) for s in steps] == [("failed", 1), ("failed", 1)]


async def test_non_determinism_names_both_steps(env: Env) -> None:
    source = (
        "import os\n"
        "def run(event, step):\n"
        "    first = not os.path.exists('marker')\n"
        "    open('marker', 'w').close()\n"
        "    step.do('load order' if first else 'load invoice', lambda: 1)\n"
        "    step.sleep('wait', 0.05)\n"
    )
    instance = await env.start(source)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.ERRORED
    assert done.error is not None and done.error["type"] == "NonDeterminismError"
    message = done.error["message"]
    assert "'load order'" in message and "'load invoice'" in message


async def test_workflow_errors_and_bad_output(env: Env) -> None:
    raising = await env.start("def run(event, step):\n    raise KeyError('missing')\n")
    not_json = await env.start("def run(event, step):\n    return {1, 2}\n", workflow="w2")
    done = await env.wait_for(raising.id)
    assert done.status is InstanceStatus.ERRORED and done.error is not None
    assert done.error["type"] == "KeyError" and "main.py" in done.error["traceback"]
    done = await env.wait_for(not_json.id)
    assert done.status is InstanceStatus.ERRORED and done.error is not None
    assert done.error["type"] == "ResultNotJSON"


async def test_durations_parse() -> None:
    from tenantflow.guest.workflow import parse_duration

    assert parse_duration("10 s") == 10
    assert parse_duration("5 minutes") == 300
    assert parse_duration("1 hour") == 3600
    assert parse_duration("250ms") == 0.25
    assert parse_duration(2) == 2.0
    with pytest.raises(ValueError, match="unknown unit"):
        parse_duration("3 fortnights")
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-1)


async def test_code_between_steps_is_bounded(env: Env) -> None:
    env.settings.engine_step_timeout_seconds = 0.5
    instance = await env.start("def run(event, step):\n    while True:\n        pass\n")
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.ERRORED and done.error is not None
    assert done.error["type"] == "WorkflowTimeout"
