"""What the speed-peer scripts record about their own process (standard library only, so that any
peer venv can import it: the scripts run from this folder, which puts it on sys.path)."""

import os
from typing import Optional


def cpu_seconds() -> float:
  """User + system CPU seconds of this process (all threads)."""
  times = os.times()
  return times.user + times.system


def load_average_1m() -> Optional[float]:
  """The machine's 1-minute load average, or None where the OS has none."""
  try:
    return round(os.getloadavg()[0], 2)
  except OSError:
    return None
