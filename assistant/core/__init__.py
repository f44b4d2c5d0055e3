"""The base layer every package builds on: settings, errors, result types, the prompt contract, model paths.

It imports nothing of the project's above it, so ingest, adapters, eval and the surfaces can all share it.
"""
