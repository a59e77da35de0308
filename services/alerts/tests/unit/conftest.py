from __future__ import annotations

import sys
from pathlib import Path

# Helpers live beside the tests; importlib mode does not put this folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
