"""Shared fixtures. Phantoms are built in code; nothing large is stored in git."""

from __future__ import annotations

import os

os.environ.setdefault("QT_API", "pyqt6")
os.environ.setdefault("PYTEST_QT_API", "pyqt6")
