"""Phone numbers never reach the logs whole: every line, every logger, exceptions too."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from switchboard.runtime.log_privacy import mask_numbers_in

NUMBER = "+14155550100"

PROGRAM = textwrap.dedent(
    """
    import logging, structlog
    from switchboard.runtime.logging import configure_logging
    configure_logging("INFO", "json", mask_numbers=MASK)
    log = structlog.get_logger("test")
    log.info("inbound", customer="+14155550100", conversation_id="conv-+14155550100",
             path="/api/conversations/conv-%2B14155550100", to=["whatsapp:+14155550100"],
             nested={"from": {"number": "+14155550100"}}, count=14155550100)
    logging.getLogger("temporalio.worker").warning("workflow conv-+14155550100 failed")
    try:
        raise ValueError("cannot text +14155550100")
    except ValueError:
        log.exception("send_failed")
    """
)


def run(mask: bool) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM.replace("MASK", str(mask))],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_every_line_masks_numbers_but_their_last_digits() -> None:
    lines = run(mask=True)
    assert len(lines) == 3
    text = json.dumps(lines, ensure_ascii=False)
    assert "4155550100" not in text.replace("14155550100,", "")  # an int is not a number string
    first = lines[0]
    assert first["customer"] == "+•••••••0100"
    assert first["conversation_id"] == "conv-+•••••••0100"
    assert first["path"] == "/api/conversations/conv-%2B•••••••0100"
    assert first["to"] == ["whatsapp:+•••••••0100"]
    assert first["nested"] == {"from": {"number": "+•••••••0100"}}
    assert "conv-+•••••••0100" in str(lines[1]["event"])  # the standard library's loggers
    assert "+•••••••0100" in str(lines[2]["exception"]) and NUMBER not in str(lines[2])


def test_off_for_local_debugging() -> None:
    assert run(mask=False)[0]["customer"] == NUMBER


def test_what_is_not_a_phone_number_stays() -> None:
    for text in (
        "2026-12-06T00:12:27.123456+00:00",  # a time with an offset
        "took 1234567 ms", "+12", "id CA1234567890abcdef", "x+14155550100000000",
    ):  # fmt: skip
        assert mask_numbers_in(text) == text
    assert mask_numbers_in("+442071838750 and +14155550100") == "+••••••••8750 and +•••••••0100"
