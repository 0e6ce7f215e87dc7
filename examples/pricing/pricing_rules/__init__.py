"""A tiny dependency, shipped inside the bundle zip."""


def quote(items):
    """Sum of quantity x unit price, with a 10% discount above 100."""
    total = sum(quantity * price for quantity, price in items)
    return round(total * 0.9 if total > 100 else total, 2)
