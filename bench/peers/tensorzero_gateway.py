"""Starts TensorZero's gateway the way its PyPI wheel ships it (the Rust gateway embedded in the
`tensorzero` package), prints its OpenAI base URL, and serves until SIGTERM/SIGINT.

Usage: python tensorzero_gateway.py CONFIG.toml
"""
import signal
import sys
import warnings

from openai import OpenAI
import tensorzero

warnings.simplefilter("ignore", DeprecationWarning)
client = tensorzero.patch_openai_client(OpenAI(api_key="unused"), config_file=sys.argv[1], async_setup=False)
print("tensorzero base_url", client.base_url, flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
