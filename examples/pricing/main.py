"""Demo zip bundle: the workflow imports a pure-Python helper package shipped beside it.

Deploy:  tenantflow deploy examples/pricing --name pricing   (a directory is zipped)
Run:     tenantflow run pricing --event '{"items": [[2, 3.5], [1, 10]]}' --wait
"""

from pricing_rules import quote


def run(event, step):
    subtotal = step.do("subtotal", lambda: quote(event.get("items", [])))
    return {"subtotal": subtotal, "currency": "EUR"}
