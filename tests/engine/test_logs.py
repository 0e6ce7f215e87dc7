"""Replay-aware logs: output is stored once, by the run that produced it, never by replays."""

from __future__ import annotations

from collections import Counter

from tenantflow.engine import InstanceStatus
from tests.engine.conftest import Env

SOURCE = (
    "import sys\n"
    "def run(event, step):\n"
    "    print('before any step')\n"
    "    a = step.do('a', lambda: print('inside a') or 1)\n"
    "    print('between a and nap')\n"
    "    step.sleep('nap', 0.3)\n"
    "    print('after nap', file=sys.stderr)\n"
    "    b = step.do('b', lambda: print('inside b') or 2)\n"
    "    step.sleep('nap 2', 0.2)\n"
    "    print('at the end')\n"
    "    return a + b\n"
)


async def test_replayed_output_is_stored_once(env: Env) -> None:
    instance = await env.start(SOURCE)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE and done.output == 3
    steps = (await env.engine.status(instance.id)).steps
    assert [s.name for s in steps] == ["a", "nap", "b", "nap 2"]  # three runs: two replays
    lines = await env.engine.logs(instance.id)
    texts = [line.text.strip() for line in lines if line.text.strip()]
    counts = Counter(texts)
    assert counts == Counter(
        {
            "before any step": 1,
            "inside a": 1,
            "between a and nap": 1,
            "after nap": 1,
            "inside b": 1,
            "at the end": 1,
        }
    ), texts
    by_text = {line.text.strip(): line for line in lines}
    assert (by_text["inside a"].step, by_text["inside b"].step) == ("a", "b")
    assert by_text["before any step"].step is None  # between steps
    assert by_text["after nap"].stream == "stderr"
    # In the order the workflow produced it.
    assert texts == [
        "before any step", "inside a", "between a and nap", "after nap", "inside b", "at the end",
    ]  # fmt: skip


async def test_output_after_the_last_step_of_an_interrupted_run_is_kept(env: Env) -> None:
    # A step that fails and is retried hibernates; the retry replays 'a' (whose output is
    # not stored again) and the code after it (whose output went with the failed attempt).
    source = (
        "def run(event, step):\n"
        "    step.do('a', lambda: print('inside a') or 1)\n"
        "    print('after a')\n"
        "    def flaky():\n"
        "        import os\n"
        "        if not os.path.exists('tried'):\n"
        "            open('tried', 'w').close()\n"
        "            raise ValueError('first attempt fails')\n"
        "        return 2\n"
        "    return step.do('b', flaky, retries={'limit': 2, 'delay': 0.1})\n"
    )
    instance = await env.start(source)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE and done.output == 2
    texts = [line.text.strip() for line in await env.engine.logs(instance.id)]
    texts = [t for t in texts if t]
    assert Counter(texts) == Counter({"inside a": 1, "after a": 1}), texts


async def test_output_of_unannounced_steps_is_theirs(env: Env) -> None:
    # On an instance's first run, steps with the default timeout are not announced to the
    # host unless output came before them; their output is still filed under them.
    source = (
        "import sys\n"
        "def run(event, step):\n"
        "    step.do('first', lambda: print('inside first') or 1)\n"
        "    step.do('second', lambda: print('to stderr', file=sys.stderr) or 2)\n"
        "    print('between')\n"
        "    step.do('third', lambda: print('inside third') or 3)\n"
        "    return 6\n"
    )
    instance = await env.start(source)
    done = await env.wait_for(instance.id)
    assert done.status is InstanceStatus.COMPLETE and done.output == 6
    lines = {line.text.strip(): line for line in await env.engine.logs(instance.id)}
    assert lines["inside first"].step == "first"
    assert (lines["to stderr"].step, lines["to stderr"].stream) == ("second", "stderr")
    assert lines["between"].step is None
    assert lines["inside third"].step == "third"
