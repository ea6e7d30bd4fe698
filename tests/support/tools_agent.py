"""An agent for the tool tests: a good tool, one that always raises, one that hangs."""

from __future__ import annotations

import asyncio

from switchboard.agent import Agent, ToolContext, tool


@tool(timeout=5, retries=0)
async def lookup_order(order_id: str, ctx: ToolContext) -> dict[str, str]:
    """Where an order is.

    Args:
        order_id: the order number, e.g. A1001
    """
    return {"order": order_id, "status": "shipped", "customer": ctx.customer}


@tool(timeout=5, retries=1)
async def flaky_inventory(sku: str) -> str:
    """Stock level of a product (its backend is down in these tests)."""
    raise RuntimeError(f"inventory backend refused {sku}")


@tool(timeout=0.5, retries=0)
async def slow_quote(item: str) -> str:
    """A shipping quote (it never answers in these tests)."""
    await asyncio.sleep(30)
    return "never"


agent = Agent(
    name="tool-tests",
    instructions="You are a test agent.",
    tools=[lookup_order, flaky_inventory, slow_quote],
)
