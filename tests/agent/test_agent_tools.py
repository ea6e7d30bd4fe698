"""The agent definition: tool schemas from signatures, HTTP tools, ``load_agent``, TOOLS_FILE."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field, ValidationError

from switchboard.agent import (
    DEFAULT_HANDOFF_MESSAGE,
    Agent,
    AgentConfigError,
    HttpTool,
    ToolContext,
    load_agent,
    load_tools_file,
    tool,
)
from switchboard.agent.builtins import InvalidToolArguments
from switchboard.agent.call_control import SCHEMAS as VOICE_SCHEMAS
from switchboard.agent.docstrings import parse as parse_docstring
from switchboard.agent.schema import without_titles
from switchboard.contract.addresses import Channel
from switchboard.contract.tools import ToolPolicy
from switchboard.runtime.config import Settings


class Address(BaseModel):
    """A postal address."""

    street: str
    city: str


@tool(timeout=5, retries=1, channels=["sms", Channel.WHATSAPP])
async def book_fitting(
    store: Annotated[str, Field(description="which store", min_length=2)],
    ctx: ToolContext,
    size: Literal["S", "M", "L"] = "M",
    notes: str | None = None,
    ship_to: Address | None = None,
) -> str:
    """Book a boot-fitting appointment.

    Only during opening hours; this paragraph is not for the model.

    Args:
        store: overridden by the Field's own description
        size (str): the customer's
            usual size.
        notes: anything the fitter should know

    Returns:
        A confirmation.
    """
    return f"{store}/{size}/{notes}/{ship_to}/{ctx.customer}"


def context(customer: str = "+14155550100", channel: Channel = Channel.SMS) -> ToolContext:
    return ToolContext(
        conversation_id=f"conv-{customer}",
        customer=customer,
        channel=channel,
        call_id="call_1",
        http=httpx.AsyncClient(),
    )


def parameters(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(schema["function"]["parameters"])


# --- schemas from signatures -----------------------------------------------------------


def test_schema_from_signature_and_docstring() -> None:
    schema = book_fitting.schema()
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "book_fitting"
    assert schema["function"]["description"] == "Book a boot-fitting appointment."
    params = parameters(schema)
    assert params["type"] == "object"
    assert params["additionalProperties"] is False
    assert params["required"] == ["store"]
    assert list(params["properties"]) == ["store", "size", "notes", "ship_to"]
    assert params["properties"]["store"] == {
        "type": "string",
        "minLength": 2,
        "description": "which store",  # Field(description=...) wins over the docstring
    }
    assert params["properties"]["size"] == {
        "type": "string",
        "enum": ["S", "M", "L"],
        "default": "M",
        "description": "the customer's usual size.",
    }
    assert params["properties"]["notes"]["description"] == "anything the fitter should know"
    assert "title" not in json.dumps(params).replace('"street"', "")  # no pydantic titles


def test_context_parameter_is_not_in_the_schema() -> None:
    assert "ctx" not in parameters(book_fitting.schema())["properties"]
    assert book_fitting.context_parameters == ("ctx",)


def test_options() -> None:
    assert book_fitting.timeout == 5
    assert book_fitting.retries == 1
    assert book_fitting.channels == (Channel.SMS, Channel.WHATSAPP)


def test_bare_decorator_name_and_description_overrides() -> None:
    @tool
    async def plain() -> str:
        """Say hi."""
        return "hi"

    @tool(name="greet", description="Greet the customer.")
    def other() -> str:
        return "hi"

    assert plain.name == "plain"
    assert plain.timeout == 10.0 and plain.retries == 2 and len(plain.channels) == 3
    assert parameters(plain.schema()) == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    assert other.schema()["function"]["name"] == "greet"
    assert other.schema()["function"]["description"] == "Greet the customer."


def test_parameter_names_that_shadow_basemodel_attributes() -> None:
    @tool
    async def lookup(json: str, model_id: int, schema: bool = False) -> str:
        """Look something up."""
        return f"{json}/{model_id}/{schema}"

    assert list(parameters(lookup.schema())["properties"]) == ["json", "model_id", "schema"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("async def f(*args: int) -> None:\n    '''Doc.'''", "passable by name"),
        ("async def f(a, /) -> None:\n    '''Doc.'''", "passable by name"),
        ("async def f(a) -> None:\n    '''Doc.'''", "needs a type annotation"),
        ("async def f(a: int) -> None:\n    pass", "needs a docstring"),
    ],
)
def test_unusable_functions_are_refused(source: str, message: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(TypeError, match=message):
        tool(namespace["f"])


def test_invalid_options_are_refused() -> None:
    async def f() -> None:
        """Doc."""

    with pytest.raises(ValueError, match="tool name"):
        tool(name="has space")(f)
    with pytest.raises(ValueError, match="timeout"):
        tool(timeout=0)(f)
    with pytest.raises(ValueError, match="not a valid Channel"):
        tool(channels=["fax"])(f)


# --- validation and calls --------------------------------------------------------------


async def test_bind_validates_and_injects_the_context() -> None:
    call = book_fitting.bind('{"store": "Boulder", "ship_to": {"street": "1 Main", "city": "X"}}')
    assert await call(context()) == (
        "Boulder/M/None/street='1 Main' city='X'/+14155550100"
    )  # nested models arrive as models


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "store: Field required"),
        ('{"store": "B", "size": "XL"}', "store: String should have at least 2 characters"),
        ('{"store": "Boulder", "size": "XL"}', "size: Input should be 'S', 'M' or 'L'"),
        ('{"store": "Boulder", "colour": "red"}', "colour: Extra inputs are not permitted"),
        ('{"store": "Boulder", "ctx": "x"}', "ctx: Extra inputs are not permitted"),
    ],
)
def test_bind_refuses_arguments_that_do_not_fit(arguments: str, message: str) -> None:
    with pytest.raises(InvalidToolArguments, match=message) as info:
        book_fitting.bind(arguments)
    assert str(info.value).startswith("book_fitting: ")


async def test_empty_arguments_mean_an_empty_object() -> None:
    @tool
    async def ping() -> str:
        """Ping."""
        return "pong"

    assert await ping.bind("")(context()) == "pong"


async def test_sync_tools_run_in_a_thread() -> None:
    main = threading.get_ident()

    @tool
    def where(ctx: ToolContext | None = None) -> bool:
        """Which thread."""
        return threading.get_ident() != main and ctx is not None

    assert where.context_parameters == ("ctx",)
    assert await where.bind("{}")(context()) is True


# --- docstrings and schema cleaning ----------------------------------------------------


def test_docstring_parsing() -> None:
    doc = parse_docstring(
        textwrap.dedent(
            """\
            First line
            continues here.

            Details.

            Args:
                a: alpha
                b (int, optional): beta
                    more beta.
                **extra: rest

            Raises:
                ValueError: not an argument
            """
        )
    )
    assert doc.summary == "First line continues here."
    assert doc.arguments == {"a": "alpha", "b": "beta more beta.", "extra": "rest"}
    assert parse_docstring(None).summary == ""


def test_without_titles_keeps_a_property_called_title() -> None:
    schema = {
        "title": "X",
        "properties": {"title": {"title": "Title", "type": "string"}},
        "$defs": {"Y": {"title": "Y", "type": "object"}},
        "anyOf": [{"title": "Z"}],
    }
    assert without_titles(schema) == {
        "properties": {"title": {"type": "string"}},
        "$defs": {"Y": {"type": "object"}},
        "anyOf": [{}],
    }


# --- the agent -------------------------------------------------------------------------

ORDERS = HttpTool(
    name="order_lookup",
    description="Find an order.",
    url="https://api.example.test/orders/{order_id}",
    parameters={
        "type": "object",
        "required": ["order_id"],
        "properties": {"order_id": {"type": "string"}},
    },
    timeout=3,
    retries=0,
    channels=(Channel.VOICE,),
)


def test_agent_defaults() -> None:
    agent = Agent(name="a", instructions="Be nice.")
    assert agent.model is None and agent.greeting is None and agent.tools == ()
    assert agent.handoff_message == DEFAULT_HANDOFF_MESSAGE
    assert "call you back" in agent.handoff_timeout_message


def test_policies() -> None:
    agent = Agent(name="a", instructions="Be nice.", tools=[book_fitting, ORDERS])
    assert agent.policies() == [
        ToolPolicy(
            name="book_fitting",
            timeout_seconds=5,
            max_attempts=2,
            channels=[Channel.SMS, Channel.WHATSAPP],
        ),
        ToolPolicy(name="order_lookup", timeout_seconds=3, max_attempts=1, channels=["voice"]),
    ]


def test_schemas_resolve_builtins_voice_tools_and_own_tools_in_order() -> None:
    agent = Agent(name="a", instructions="Be nice.", tools=[book_fitting, ORDERS])
    names = ["order_lookup", "handoff_to_human", "nope", "send_digits", "book_fitting"]
    found = agent.schemas(names)
    assert [s["function"]["name"] for s in found] == [n for n in names if n != "nope"]
    assert found[0] == ORDERS.schema()
    assert found[2] == VOICE_SCHEMAS["send_digits"]
    handoff = found[1]["function"]
    assert handoff["parameters"]["properties"]["reason"]["type"] == "string"


def test_on_a_call_end_conversation_is_the_call_control_tool() -> None:
    agent = Agent(name="a", instructions="Be nice.")
    (text,) = agent.schemas(["end_conversation"], Channel.SMS)
    (voice,) = agent.schemas(["end_conversation"], Channel.VOICE)
    assert voice == VOICE_SCHEMAS["end_conversation"]
    assert text != voice and "reason" in text["function"]["parameters"]["properties"]


@pytest.mark.parametrize(
    "name", ["remember", "handoff_to_human", "send_digits", "end_conversation"]
)
def test_own_tools_cannot_take_a_builtin_name(name: str) -> None:
    clash = HttpTool(name=name, description="x", url="https://x.test")
    with pytest.raises(ValueError, match="built-in"):
        Agent(name="a", instructions="Be nice.", tools=[clash])


def test_tool_names_are_unique() -> None:
    twin = HttpTool(name="book_fitting", description="x", url="https://x.test")
    with pytest.raises(ValueError, match="two tools are named 'book_fitting'"):
        Agent(name="a", instructions="Be nice.", tools=[book_fitting, twin])
    agent = Agent(name="a", instructions="Be nice.", tools=[book_fitting])
    with pytest.raises(ValueError, match="two tools"):
        agent.with_tools([twin])


def test_instructions_are_required() -> None:
    with pytest.raises(ValueError, match="instructions"):
        Agent(name="a", instructions="  ")


# --- HTTP tools ------------------------------------------------------------------------


def test_http_tool_schema_and_defaults() -> None:
    # "post" is outside the Literal on purpose: the field's validator upper-cases it.
    plain = HttpTool(name="ping", description="Ping.", url="http://x.test/ping", method="post")  # type: ignore[arg-type]
    assert plain.method == "POST"
    assert plain.schema() == {
        "type": "function",
        "function": {
            "name": "ping",
            "description": "Ping.",
            "parameters": {"additionalProperties": False, "type": "object", "properties": {}},
        },
    }
    assert plain.timeout == 10.0 and plain.retries == 2 and plain.auth_env is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "ftp://x.test"}, "url must be http"),
        ({"parameters": {"type": "array"}}, "type object"),
        ({"parameters": {"type": "object", "properties": {"a": {"type": "nope"}}}}, "invalid"),
        ({"url": "https://x.test/{id}"}, "placeholder"),
        ({"name": "no spaces please"}, "tool name"),
        ({"method": "TRACE"}, "method"),
        ({"retries": -1}, "retries"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_http_tool_configuration_errors(fields: dict[str, Any], message: str) -> None:
    values = {"name": "t", "description": "d", "url": "https://x.test"} | fields
    with pytest.raises((ValidationError, TypeError), match=message):
        HttpTool(**values)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("{}", "'order_id' is a required property"),
        ('{"order_id": 7}', "order_id: 7 is not of type 'string'"),
        ('{"order_id": "A1", "x": 1}', "Additional properties are not allowed"),
        ("oops", "not valid JSON"),
    ],
)
def test_http_tool_validates_arguments(arguments: str, message: str) -> None:
    with pytest.raises(InvalidToolArguments, match=message):
        ORDERS.bind(arguments)


# --- load_agent ------------------------------------------------------------------------


@pytest.fixture
def agent_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module ``shop_agent_<n>`` on sys.path with an agent, a factory and a non-agent."""
    name = f"shop_agent_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            '''
            from switchboard.agent import Agent, tool

            @tool
            async def store_hours() -> str:
                """Opening hours."""
                return "9-5"

            agent = Agent(name="shop", instructions="Sell.", model="m1", tools=[store_hours])

            def make_agent() -> Agent:
                return Agent(name="made", instructions="Made.")

            def broken() -> Agent:
                raise RuntimeError("no database")

            not_an_agent = 42
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def settings(**values: Any) -> Settings:
    return Settings(**values)


def test_default_agent_comes_from_settings() -> None:
    agent = load_agent(settings(agent=None, agent_instructions="Be Acme."))
    assert agent.instructions == "Be Acme."
    assert agent.model is None and agent.greeting is None and agent.tools == ()


def test_load_agent_from_module_attribute(agent_module: str) -> None:
    agent = load_agent(settings(agent=f"{agent_module}:agent"))
    assert (agent.name, agent.model, [t.name for t in agent.tools]) == (
        "shop",
        "m1",
        ["store_hours"],
    )
    assert load_agent(settings(agent=agent_module)).name == "shop"  # ":agent" by default
    assert load_agent(settings(agent=f"{agent_module}:make_agent")).name == "made"


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        (":missing", "has no attribute 'missing'"),
        (":broken", r"broken\(\) failed: RuntimeError: no database"),
        (":not_an_agent", "expected an Agent or a function returning one, got int"),
    ],
)
def test_load_agent_errors(agent_module: str, attribute: str, message: str) -> None:
    with pytest.raises(AgentConfigError, match=message) as info:
        load_agent(settings(agent=agent_module + attribute))
    assert str(info.value).startswith(f"AGENT={agent_module}{attribute}: ")


def test_load_agent_missing_module() -> None:
    with pytest.raises(AgentConfigError, match="cannot import 'no_such_module_xyz'"):
        load_agent(settings(agent="no_such_module_xyz:agent"))


def test_load_agent_module_that_fails_on_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clashing_agent_mod.py").write_text(
        "from switchboard.agent import Agent, HttpTool\n"
        "agent = Agent(name='x', instructions='y', "
        "tools=[HttpTool(name='remember', description='d', url='https://x.test')])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AgentConfigError, match=r"ValueError: .*'remember' is a built-in"):
        load_agent(settings(agent="clashing_agent_mod:agent"))
    sys.modules.pop("clashing_agent_mod", None)


# --- TOOLS_FILE ------------------------------------------------------------------------

TOML_TOOLS = """
[[tools]]
name = "order_lookup"
description = "Find an order."
url = "https://api.example.test/orders/{order_id}"
auth_env = "ORDERS_API_TOKEN"
timeout = 4
retries = 1
channels = ["sms", "voice"]

[tools.parameters]
type = "object"
required = ["order_id"]
properties = { order_id = { type = "string", description = "e.g. A1001" } }

[[tools]]
name = "newsletter"
description = "Sign up for the newsletter."
url = "https://api.example.test/newsletter"
method = "post"
parameters = { type = "object", properties = { email = { type = "string" } } }
"""


def test_tools_file_toml(tmp_path: Path) -> None:
    path = tmp_path / "tools.toml"
    path.write_text(TOML_TOOLS)
    lookup, newsletter = load_tools_file(path)
    assert (lookup.name, lookup.method, lookup.auth_env, lookup.timeout, lookup.retries) == (
        "order_lookup",
        "GET",
        "ORDERS_API_TOKEN",
        4,
        1,
    )
    assert lookup.channels == (Channel.SMS, Channel.VOICE)
    assert newsletter.method == "POST"
    props = parameters(lookup.schema())["properties"]
    assert props == {"order_id": {"type": "string", "description": "e.g. A1001"}}


def test_tools_file_json(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    entry = {"name": "ping", "description": "Ping.", "url": "https://x.test/ping"}
    path.write_text(json.dumps({"tools": [entry]}))
    (ping,) = load_tools_file(path)
    assert ping.name == "ping" and ping.method == "GET"


def test_load_agent_adds_the_tools_file(agent_module: str, tmp_path: Path) -> None:
    path = tmp_path / "tools.toml"
    path.write_text(TOML_TOOLS)
    agent = load_agent(settings(agent=f"{agent_module}:agent", tools_file=str(path)))
    assert [t.name for t in agent.tools] == ["store_hours", "order_lookup", "newsletter"]
    default = load_agent(settings(agent=None, tools_file=str(path)))
    assert [t.name for t in default.tools] == ["order_lookup", "newsletter"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.toml", "[[tools]]\nname = 'x'\n", r"tool x: description: Field required"),
        (
            "t.toml",
            "[[tools]]\nname='x'\ndescription='d'\nurl='https://x.test'\nauth_evn='T'\n",
            "tool x: auth_evn: Unexpected keyword argument",
        ),
        ("t.toml", "tools = 3", "a list of tools"),
        ("t.toml", "[[other]]\n", "a list of tools"),
        ("t.toml", "not = = toml", "not valid toml"),
        ("t.json", "[1]", "an object with 'tools'"),
        ("t.json", "{", "not valid json"),
        ("t.yaml", "tools: []", "use a .toml or .json file"),
    ],
)
def test_tools_file_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(AgentConfigError, match=message) as info:
        load_tools_file(path)
    assert str(info.value).startswith(f"TOOLS_FILE={path}: ")


def test_tools_file_missing(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match="No such file"):
        load_agent(settings(tools_file=str(tmp_path / "nope.toml")))


def test_tools_file_name_clash_is_a_startup_error(agent_module: str, tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    entry = {"name": "store_hours", "description": "d", "url": "https://x.test"}
    path.write_text(json.dumps({"tools": [entry]}))
    with pytest.raises(AgentConfigError, match="two tools are named 'store_hours'"):
        load_agent(settings(agent=f"{agent_module}:agent", tools_file=str(path)))


def test_the_example_agent_loads() -> None:
    agent = load_agent(settings(agent="examples.agent:agent", tools_file="examples/tools.toml"))
    assert agent.name == "acme-outdoor"
    assert [t.name for t in agent.tools] == [
        "check_order_status",
        "store_hours",
        "trail_forecast",
    ]
    assert agent.greeting and "Acme Outdoor" in agent.greeting
