"""The domain assistant: route a question, retrieve passages, answer with citations.

Importing the package switches the Hugging Face libraries to offline mode before
any of them is imported: every model is loaded from a local path.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
