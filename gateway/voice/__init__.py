"""Calls over Twilio ConversationRelay: the socket, its frames, and the spoken turn.

``session`` (one socket: setup, routing frames, winding down) · ``frames`` (every
ConversationRelay message shape, in and out) · ``turns`` (the turn pipeline: plan, speculate,
stream the model, report) · ``speculation`` (starting the model on a guessed plan) ·
``llm_stream`` (the model's tokens over SSE) · ``turn_knowledge`` (knowledge looked up for
what the caller just said) · ``keypad`` (the DTMF buffer) · ``call_actions`` (actions held
until the caller has heard the reply) · ``legs`` (the gateway's own task queue: the leg
watcher and call actions the workflow starts) · ``calls`` (the live sessions of this process).
"""
