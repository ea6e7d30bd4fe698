"""Acme Outdoor: an example business agent with two Python tools and an HTTP tool.

The Python tools are below; the HTTP tool (a weather forecast for trips) is declared in
``tools.toml`` beside this module. Run it with::

    AGENT=examples.agent:agent TOOLS_FILE=examples/tools.toml make run

then ``make chat`` and ask "where is my order A1001?" or "are you open on Sunday?" (with
``LLM_BASE_URL`` set: the offline demo responder does not call the agent's tools).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from switchboard.agent import Agent, AgentVoice, ToolContext, tool

INSTRUCTIONS = """\
You are the assistant of Acme Outdoor, a shop for camping, hiking and climbing gear in
Boulder, Colorado, with an online store that ships across the US.
- Be warm and brief. Answer in plain text, without markdown.
- For an order, ask for its number (a letter and four digits, e.g. A1001) and look it up
  with check_order_status; never guess where an order is.
- For opening hours, use store_hours. For trip weather, use trail_forecast.
- Returns are free within 60 days with the receipt. For anything you cannot do (refunds,
  damaged items), offer to connect the customer with the team.\
"""

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class Order(BaseModel):
    """An order as the shop's records keep it."""

    customer: str | None = Field(description="the phone number that placed it (None: anyone)")
    status: Literal["processing", "shipped", "delivered"]
    items: list[str]
    carrier: str | None = None
    expected: date | None = None


ORDERS: dict[str, Order] = {
    "A1001": Order(
        customer=None,
        status="shipped",
        items=["Trailhead 2-person tent", "Summit 20°F sleeping bag"],
        carrier="UPS",
        expected=date(2026, 12, 2),
    ),
    "A1002": Order(customer=None, status="processing", items=["Granite chalk bag"]),
    "A1003": Order(
        customer="+15551230000",
        status="delivered",
        items=["Ridge 45L backpack"],
        carrier="USPS",
        expected=date(2026, 11, 20),
    ),
}
"""A stand-in for the shop's order system."""

HOURS: dict[str, str] = {
    "monday": "10am-7pm",
    "tuesday": "10am-7pm",
    "wednesday": "10am-7pm",
    "thursday": "10am-8pm",
    "friday": "10am-8pm",
    "saturday": "9am-8pm",
    "sunday": "11am-5pm",
}


class OrderStatus(BaseModel):
    """What ``check_order_status`` tells the model."""

    order_id: str
    status: str
    items: list[str]
    carrier: str | None
    expected_delivery: date | None


@tool(timeout=5, retries=1)
async def check_order_status(
    order_id: Annotated[str, Field(pattern=r"^[A-Za-z][0-9]{4}$")], ctx: ToolContext
) -> OrderStatus | str:
    """Look up an order: its status, items, carrier and expected delivery date.

    Args:
        order_id: the order number from the customer's receipt, e.g. A1001
        ctx: who is asking (filled in by the conversation; the model never sees it)
    """
    order = ORDERS.get(order_id.upper())
    # The caller is known from the conversation, never from what the model passes: an
    # order that belongs to someone else looks exactly like one that does not exist.
    if order is None or order.customer not in (None, ctx.customer):
        return f"There is no order {order_id.upper()} for this customer."
    return OrderStatus(
        order_id=order_id.upper(),
        status=order.status,
        items=order.items,
        carrier=order.carrier,
        expected_delivery=order.expected,
    )


@tool(timeout=2, retries=0)
def store_hours(day: Weekday | None = None) -> dict[str, str]:
    """Opening hours of the Boulder store (1200 Pearl Street), for one day or the whole week.

    Args:
        day: the day asked about; every day when omitted
    """
    return {day: HOURS[day]} if day else dict(HOURS)


agent = Agent(
    name="acme-outdoor",
    instructions=INSTRUCTIONS,
    greeting="Thanks for calling Acme Outdoor! How can I help you today?",
    voice=AgentVoice(language="en-US"),
    tools=[check_order_status, store_hours],
    handoff_message="I'm connecting you with someone from our store team. One moment, please.",
)
"""The agent ``AGENT=examples.agent:agent`` runs."""
