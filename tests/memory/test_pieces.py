"""Pure pieces of memory: chunking, search terms, the context format, summaries, tool args."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import Depends, FastAPI

from gateway.dependencies import get_settings, operator_auth
from switchboard.agent.builtins import (
    InvalidToolArguments,
    RememberArgs,
    SearchKnowledgeArgs,
    parse_arguments,
    schemas,
)
from switchboard.contract.addresses import Channel
from switchboard.contract.llm import ToolCall
from switchboard.memory.chunking import chunk_text, content_type_of, html_to_text
from switchboard.memory.context import MAX_CHARS, format_context
from switchboard.memory.identity import InvalidAddress, parse_identifier
from switchboard.memory.models import (
    KnowledgeHit,
    Observation,
    PastLine,
    Recall,
    Summary,
    Trait,
    TranscriptLine,
)
from switchboard.memory.summary import fallback_summary
from switchboard.memory.text_search import fuse, search_terms, stem
from switchboard.runtime.config import Settings

AT = datetime(2026, 11, 20, tzinfo=UTC)


def test_markdown_chunks_keep_their_heading_path() -> None:
    text = "Intro line.\n\n# A\n\npara a\n\n## B\n\npara b\n\n```\n# not a heading\n```\n\n# C\n\nc"
    chunks = chunk_text(text, "text/markdown")
    assert [(c.section, c.text.splitlines()[0]) for c in chunks] == [
        ("", "Intro line."), ("A", "para a"), ("A > B", "para b"), ("C", "c"),
    ]  # fmt: skip
    assert "# not a heading" in chunks[2].text


def test_long_paragraphs_are_cut_at_sentences() -> None:
    sentence = "This sentence is about returns and refunds. "
    chunks = chunk_text(sentence * 100, "text/plain")
    assert len(chunks) > 2
    assert all(len(c.text) <= 1600 for c in chunks)
    assert all(c.text.endswith("refunds.") for c in chunks)
    assert [c.seq for c in chunks] == list(range(len(chunks)))


def test_html_to_text_drops_scripts_and_keeps_headings() -> None:
    text = html_to_text(
        "<h2>Hours</h2><script>alert(1)</script><ul><li>Mon&nbsp;9&amp;5</li><li>Sun</li></ul>"
    )
    assert text.splitlines()[0] == "## Hours"
    assert "alert" not in text
    assert "- Mon 9&5" in text and "- Sun" in text


@pytest.mark.parametrize(
    ("name", "kind"),
    [("a.md", "text/markdown"), ("B.HTM", "text/html"), ("c.txt", "text/plain"),
     ("d", "text/plain")],
)  # fmt: skip
def test_content_type_of(name: str, kind: str) -> None:
    assert content_type_of(name) == kind


def test_search_terms_and_stems() -> None:
    assert search_terms("What is your RETURN policy?? It's for my shoes") == [
        "return", "policy", "shoes",
    ]  # fmt: skip
    assert search_terms('"; DROP TABLE chunks; --') == ["drop", "table", "chunks"]
    assert stem("returns") == stem("returned") == stem("returning") == "return"
    assert fuse([["a", "b"], ["b", "c"]])["b"] > fuse([["a", "b"], ["b", "c"]])["a"]


def test_identifiers() -> None:
    assert parse_identifier("whatsapp:+14155550100").address == "whatsapp:+14155550100"
    assert parse_identifier("(415) 555-0100").address == "+14155550100"
    assert parse_identifier("mailto:Ada@Example.COM").address == "ada@example.com"
    with pytest.raises(InvalidAddress):
        parse_identifier("not an address")


def recall(**fields: object) -> Recall:
    return Recall(customer="+14155550100", known=True, **fields)


def test_context_format() -> None:
    text = format_context(
        recall(
            identifiers=["+14155550100", "ada@example.com"],
            traits=[Trait(name="name", value="Ada", source="remember", at=AT)],
            observations=[Observation(text="Prefers email", source="remember", at=AT)],
            summaries=[Summary(text="Asked about returns.", conversation_id="c", at=AT)],
            past_lines=[PastLine(conversation_id="c", role="customer", text="hi  there",
                                 channel=Channel.SMS, at=AT)],
            knowledge=[KnowledgeHit(document="p.md", section="Returns", text="30 days", score=1)],
        )
    )  # fmt: skip
    assert text.splitlines() == [
        "## What we know about this customer (from earlier conversations; may be out of date)",
        "Customer: +14155550100 (also: ada@example.com)",
        "Traits:",
        "- name: Ada (remember, 2026-11-20)",
        "Observations:",
        "- Prefers email (2026-11-20)",
        "Earlier conversations:",
        "- 2026-11-20: Asked about returns.",
        "Earlier messages:",
        "- 2026-11-20 sms, customer: hi there",
        "",
        "## Knowledge base (cite the source in brackets when you use it)",
        "[p.md > Returns] 30 days",
    ]


def test_context_is_bounded_and_knowledge_keeps_its_room() -> None:
    many = [Observation(text="x" * 500, source="remember", at=AT) for _ in range(100)]
    hits = [KnowledgeHit(document="d", text="y" * 2000, score=1) for _ in range(3)]
    text = format_context(recall(observations=many, knowledge=hits))
    assert len(text) <= MAX_CHARS
    assert text.count("[d]") == 3
    assert "…" in text  # long lines are cut
    assert format_context(Recall(customer="+14155550100")) == ""


def test_fallback_summary_quotes_the_customer() -> None:
    lines = [
        TranscriptLine(role="customer", text="my name is Ada", channel=Channel.WHATSAPP, at=AT),
        TranscriptLine(role="assistant", text="Hi Ada!", channel=Channel.WHATSAPP, at=AT),
    ]
    summary = fallback_summary(lines)
    assert summary == (
        '1 message(s) from the customer on whatsapp. The customer said: "my name is Ada". '
        'Our last reply: "Hi Ada!".'
    )
    assert len(fallback_summary(lines * 200)) <= 600


def test_tool_arguments_are_validated() -> None:
    def call(name: str, args: object) -> ToolCall:
        return ToolCall(id="c", name=name, arguments=json.dumps(args))

    args = parse_arguments(
        call("remember", {"fact": "Likes tea", "trait": "drink", "value": "tea"})
    )
    assert args == RememberArgs(fact="Likes tea", trait="drink", value="tea")
    assert parse_arguments(call("search_knowledge", {"query": "x"})) == SearchKnowledgeArgs(
        query="x"
    )
    for bad in (
        call("remember", {}),
        call("remember", {"fact": "x", "trait": "Not A Key"}),
        call("remember", {"fact": "x", "extra": 1}),
        call("nope", {}),
        ToolCall(id="c", name="remember", arguments="{not json"),
    ):
        with pytest.raises(InvalidToolArguments):
            parse_arguments(bad)
    [schema] = schemas(["remember", "unknown"])
    assert schema["function"]["parameters"]["required"] == ["fact"]
    assert schema["function"]["parameters"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("client", "key", "header", "status"),
    [
        (("127.0.0.1", 5000), None, None, 200),
        (("10.1.2.3", 5000), None, None, 403),
        (("10.1.2.3", 5000), "k", "Bearer k", 200),
        (("10.1.2.3", 5000), "k", "Bearer x", 401),
        (("127.0.0.1", 5000), "k", None, 401),
    ],
)
async def test_operator_auth(
    client: tuple[str, int], key: str | None, header: str | None, status: int
) -> None:
    app = FastAPI()
    settings = Settings(_env_file=None, gateway_api_key=key)
    app.dependency_overrides[get_settings] = lambda: settings

    @app.get("/api/x", dependencies=[Depends(operator_auth)])
    async def x() -> dict[str, bool]:
        return {"ok": True}

    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8000") as http:
        headers = {"Authorization": header} if header else {}
        assert (await http.get("/api/x", headers=headers)).status_code == status
