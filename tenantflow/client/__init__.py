"""Python clients of the tenantflow REST API, typed with the server's wire models.

```python
from tenantflow.client import Client
with Client("http://127.0.0.1:8000", "tf_...") as tf:
    tf.upload_workflow("orders", "orders.py")
    instance = tf.create_instance("orders", {"id": 7})
    print(tf.wait(instance.id).status)

    session = tf.create_session("agent")
    tf.write_file(session.id, "data.csv", b"a,b\\n1,2\\n")
    print(tf.run_python(session.id, "open('data.csv').read()").result)
    for event in tf.stream_shell(session.id, "wc -l data.csv"):
        print(event.kind, event.text or event.result)
```

:class:`AsyncClient` has the same methods, awaited (``stream_*`` and ``iter_*``
are async iterators). Secret values only travel to the server: no method returns one.
"""

from tenantflow.client._async import AsyncClient
from tenantflow.client._calls import ExecEvent
from tenantflow.client._sync import Client
from tenantflow.client.errors import ApiError, StreamError

__all__ = ["ApiError", "AsyncClient", "Client", "ExecEvent", "StreamError"]
