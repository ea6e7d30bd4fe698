"""Acme Outdoor's order system as an MCP server: a complete example to connect to an agent.

Built with the official ``mcp`` SDK (``MCPServer``). It serves over stdio (the worker and
the gateway start it themselves) or Streamable HTTP::

    # stdio: in TOOLS_FILE
    [[mcp]]
    name = "shop"
    command = ["python", "-m", "examples.mcp_shop_server"]
    customer_argument = "customer"

    # Streamable HTTP: run it, then point the agent at it
    python -m examples.mcp_shop_server --http --port 9000
    [[mcp]]
    name = "shop"
    url = "http://127.0.0.1:9000/mcp"
    customer_argument = "customer"

Each tool takes ``customer``: Switchboard fills it with the caller's E.164 number (the
model never sees it), so a caller only ever hears about their own orders. The annotations
matter: ``readOnlyHint`` and ``idempotentHint`` tools are retried when an attempt fails;
``cancel_order`` is neither, so it runs at most once per request of the model. A
``ToolError``'s message reaches the model (and so the customer); any other exception is
reported by the SDK without its message, so internals stay on the server.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("acme-shop", instructions="Acme Outdoor's orders and opening hours.")


@dataclass
class Order:
    """An order: whose it is, where it is, what is in it."""

    customer: str | None  # the phone number that placed it; None: anyone may ask (a demo)
    status: str
    items: list[str]


ORDERS: dict[str, Order] = {
    "A1001": Order(None, "shipped", ["2-person tent", "sleeping pad"]),
    "A1002": Order(None, "processing", ["climbing harness"]),
}


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup_order(order_id: str, customer: str) -> str:
    """Where an order is and what is in it, by its number (a letter and four digits).

    Args:
        order_id: the order number, e.g. A1001
        customer: the caller's phone number (set by Switchboard)
    """
    order = ORDERS.get(order_id.strip().upper())
    if order is None or order.customer not in (None, customer):
        return f"No order {order_id} for this caller."
    return f"Order {order_id}: {order.status}; items: {', '.join(order.items)}."


@server.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=False))
def cancel_order(order_id: str, customer: str) -> str:
    """Cancel an order that has not shipped yet. Ask the customer to confirm first.

    Args:
        order_id: the order number, e.g. A1002
        customer: the caller's phone number (set by Switchboard)
    """
    order = ORDERS.get(order_id.strip().upper())
    if order is None or order.customer not in (None, customer):
        raise ToolError(f"no order {order_id} for this caller")
    if order.status != "processing":
        raise ToolError(f"order {order_id} has {order.status} and can no longer be cancelled")
    order.status = "cancelled"
    return f"Order {order_id} is cancelled; the refund takes 3-5 business days."


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def store_hours(customer: str) -> str:
    """The shop's opening hours in Boulder, CO."""
    return "Monday to Saturday 9am-7pm, Sunday 10am-5pm (Mountain Time)."


def main() -> None:
    """Serve over stdio, or over Streamable HTTP with ``--http``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--http", action="store_true", help="serve Streamable HTTP on /mcp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    if args.http:
        server.run("streamable-http", host=args.host, port=args.port)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
