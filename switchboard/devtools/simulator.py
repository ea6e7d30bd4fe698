"""Chat with the agent as a customer, without Twilio: ``python -m switchboard.devtools.simulator``.

It posts correctly signed webhooks to the gateway's real ``/twilio/messaging`` endpoint —
exactly what Twilio would send — and prints the agent's replies from the sandbox outbox.
Use ``--whatsapp`` to write over WhatsApp, ``--voice`` to call instead (the Voice webhook, then
a signed ConversationRelay socket, speaking its frames: each line you type is what you "say",
and the agent's tokens print as they stream), ``--from`` to be another customer, and
``--message`` to send one text (or say one thing) and print the reply (handy in scripts).
``--population N`` simulates N customers instead, to fill the insights dashboard (see
``switchboard.devtools.population``; with ``--seed``, ``--concurrency`` and ``--gateway``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

import httpx

from switchboard.contract.addresses import Channel, channel_address, to_e164
from switchboard.devtools.population import Gateway, populate
from switchboard.devtools.twilio_sim import RelayCall, TwilioWebhookClient, inbound_message_form
from switchboard.runtime.config import SANDBOX_PHONE_NUMBER, Settings, get_settings


class Simulator:
    """One simulated customer talking to a gateway in sandbox mode."""

    def __init__(
        self, http: httpx.AsyncClient, settings: Settings, customer: str, channel: Channel
    ):
        self.customer = customer
        self.channel = channel
        self._settings = settings
        self._http = http
        self._gateway = f"http://{settings.gateway_host}:{settings.gateway_port}"
        self._webhooks = TwilioWebhookClient(
            http, self._gateway, settings.auth_token, settings.public_base_url
        )
        self._seen = 0

    async def send(self, text: str) -> None:
        """Text the business."""
        business = self._settings.twilio_phone_number or SANDBOX_PHONE_NUMBER
        form = inbound_message_form(
            self.customer, business, text, channel=self.channel,
            account_sid=self._settings.account_sid,
        )  # fmt: skip
        response = await self._webhooks.post("/twilio/messaging", form)
        if response.status_code != 200:
            print(f"! gateway answered {response.status_code}: {response.text}", file=sys.stderr)

    async def replies(self, wait: float) -> list[str]:
        """Replies that arrived since the last call, waiting up to ``wait`` seconds for one."""
        response = await self._http.get(
            f"{self._gateway}/sandbox/messages",
            params={
                "to": channel_address(self.customer, self.channel),
                "after": self._seen,
                "wait": wait,
            },
            timeout=wait + 5,
        )
        response.raise_for_status()
        messages = response.json()["messages"]
        if messages:
            self._seen = max(m["seq"] for m in messages)
        return [str(m["body"]) for m in messages]

    async def skip_existing(self) -> None:
        """Do not show replies from before this session."""
        await self.replies(wait=0)


async def _print_replies(sim: Simulator) -> None:
    while True:
        try:
            for body in await sim.replies(wait=25):
                print(f"\r\033[Kagent> {body}\nyou> ", end="", flush=True)
        except httpx.HTTPError as exc:
            print(f"\n! cannot reach the gateway: {exc}", file=sys.stderr)
            await asyncio.sleep(2)


async def _typed_lines() -> AsyncIterator[str]:
    """What the person types, a non-empty line at a time, until end of input (Ctrl-D)."""
    while True:
        print("you> ", end="", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        if line.strip():
            yield line.strip()


async def _speak_and_listen(call: RelayCall, text: str, wait: float) -> str:
    """Say ``text`` and print the agent's answer token by token; returns the whole answer."""
    await call.say(text)
    spoken = ""
    while True:
        frame = await call.frame(within=wait)
        if frame.get("type") == "text":
            spoken += str(frame["token"])
            print(frame["token"], end="", flush=True)
            if frame.get("last"):
                print()
                return spoken
        elif frame.get("type") == "end":
            print(f"\n[the agent ended the call {frame.get('handoffData') or ''}]")
            return spoken
        else:
            print(f"\n[{frame.get('type')}: {frame}]")


async def call(settings: Settings, customer: str, message: str | None, wait: float) -> int:
    """Call the business over ConversationRelay, as Twilio would."""
    gateway = f"http://{settings.gateway_host}:{settings.gateway_port}"
    business = settings.twilio_phone_number or SANDBOX_PHONE_NUMBER
    async with httpx.AsyncClient(timeout=10) as http:
        webhooks = TwilioWebhookClient(http, gateway, settings.auth_token, settings.public_base_url)
        try:
            relay = await RelayCall.dial(
                webhooks, customer, business, account_sid=settings.account_sid
            )
        except (httpx.HTTPError, OSError) as exc:
            print(f"cannot call the gateway ({exc}); is `make run` running?", file=sys.stderr)
            return 2
        try:
            if message:
                return 0 if await _speak_and_listen(relay, message, wait) else 1
            print(f"You are {customer}, on a call. Type what you say; Ctrl-D to hang up.")
            async for line in _typed_lines():
                print("agent> ", end="", flush=True)
                await _speak_and_listen(relay, line, wait)
            return 0
        finally:
            await relay.hang_up()


async def population(settings: Settings, args: argparse.Namespace) -> int:
    """Simulate ``args.population`` customers and print what happened and the insights."""
    if not settings.sandbox:
        print(
            "refusing to simulate a population with Twilio credentials set: the agent's "
            "replies would go to Twilio (unset TWILIO_ACCOUNT_SID to use sandbox mode)",
            file=sys.stderr,
        )
        return 2
    api_key = settings.gateway_api_key
    gateway = Gateway(
        url=args.gateway or f"http://{settings.gateway_host}:{settings.gateway_port}",
        auth_token=settings.auth_token,
        account_sid=settings.account_sid,
        business=settings.twilio_phone_number or SANDBOX_PHONE_NUMBER,
        public_base_url=settings.public_base_url,
        api_key=api_key.get_secret_value() if api_key else None,
    )
    print(
        f"Simulating {args.population} customers against {gateway.url} "
        f"(seed {args.seed}, {args.concurrency} at a time)"
    )
    try:
        report = await populate(
            gateway, args.population, seed=args.seed, concurrency=args.concurrency,
            wait=args.timeout,
        )  # fmt: skip
    except httpx.HTTPError as exc:
        print(f"cannot reach the gateway ({exc}); is `make run` running?", file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.failed else 0


async def main(argv: list[str] | None = None) -> int:
    """Run the simulator; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--from", dest="customer", default="+15551230000", help="your number")
    parser.add_argument("--whatsapp", action="store_true", help="write over WhatsApp")
    parser.add_argument("--voice", action="store_true", help="call instead of texting")
    parser.add_argument("--message", help="send one text, print the reply and exit")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a reply")
    parser.add_argument(
        "--population", type=int, metavar="N", help="simulate N customers to fill the insights"
    )
    parser.add_argument("--seed", type=int, default=0, help="the population's seed")
    parser.add_argument("--concurrency", type=int, default=5, help="customers at a time")
    parser.add_argument("--gateway", help="the gateway's URL (default: from the settings)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.population is not None:
        return await population(settings, args)
    if not settings.sandbox:
        print("note: Twilio credentials are set, so replies go to Twilio, not to this terminal.")
    if args.voice:
        return await call(settings, to_e164(args.customer), args.message, args.timeout)
    channel = Channel.WHATSAPP if args.whatsapp else Channel.SMS
    async with httpx.AsyncClient(timeout=10) as http:
        sim = Simulator(http, settings, to_e164(args.customer), channel)
        try:
            await sim.skip_existing()
        except httpx.HTTPError as exc:
            print(f"cannot reach the gateway ({exc}); is `make run` running?", file=sys.stderr)
            return 2
        if args.message:
            await sim.send(args.message)
            replies = await sim.replies(wait=args.timeout)
            for body in replies:
                print(body)
            return 0 if replies else 1
        print(f"You are {sim.customer} on {channel}. Type a message; Ctrl-D to quit.")
        printer = asyncio.create_task(_print_replies(sim))
        try:
            async for line in _typed_lines():
                await sim.send(line)
            return 0
        finally:
            printer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await printer


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
