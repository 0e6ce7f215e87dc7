"""Demo workflow: a flaky step that succeeds on retry, a durable sleep, and an approval event.

Deploy:  tenantflow deploy examples/order_approval.py --name order-approval
Run:     tenantflow run order-approval --event '{"order": 42, "amount": 99.5}'
Approve: tenantflow events <instance id> approved '{"by": "alice"}'
"""

import os


def reserve_stock(order):
    # Fails on the first attempt, succeeds on the next: a retry, visible in the timeline.
    # The working directory is this instance's own workspace: it survives between attempts.
    marker = "reserve-attempted"
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("1")
        raise ConnectionError("warehouse did not answer (simulated)")
    return {"order": order, "reserved": True}


def run(event, step):
    order = event["order"]
    print(f"order {order}: reserving stock")
    reservation = step.do(
        "reserve stock",
        lambda: reserve_stock(order),
        retries={"limit": 3, "delay": "1 s", "backoff": "constant"},
        timeout="30 s",
    )
    step.sleep("cool down", "1 s")
    print(f"order {order}: waiting for approval")
    approval = step.wait_for_event("approval", type="approved", timeout="1 hour")
    total = step.do("charge", lambda: round(event.get("amount", 0) * 1.2, 2))
    print(f"order {order}: approved by {approval['by']}, charged {total}")
    return {
        "order": order,
        "reserved": reservation["reserved"],
        "approved_by": approval["by"],
        "charged": total,
    }
