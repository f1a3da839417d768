"""The platform's public contracts: event envelope, event payloads, RPC payloads, errors.

Services and the gateway meet only through what is defined here. JSON Schema documents
generated from these models are committed under ``contracts/schemas``;
``python -m contracts.generate --check`` fails when code and committed schemas drift.
"""
