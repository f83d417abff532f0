"""The one admin HTTP API of the function app: a FastAPI app served through the Functions ASGI integration."""
