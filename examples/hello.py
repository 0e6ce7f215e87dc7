"""The smallest workflow: one step.

tenantflow deploy examples/hello.py --name hello
tenantflow run hello --event '{"name": "Ada"}' --wait
"""


def run(event, step):
    greeting = step.do("greet", lambda: f"hello, {event.get('name', 'world')}")
    print(greeting)
    return {"greeting": greeting}
