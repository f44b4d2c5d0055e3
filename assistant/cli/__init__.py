"""The command line: a thin shell over the runtime, one module per command group (`assistant`, `ingest`)."""
