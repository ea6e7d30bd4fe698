"""The FastAPI gateway: Twilio webhooks and sockets in, Temporal signals out."""
