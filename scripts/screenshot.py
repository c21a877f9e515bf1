"""Refresh ``assets/screenshot.png``: run the browser test with its screenshot pointed there.

    python scripts/screenshot.py        (needs Debian chromium and the dev extra)
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    env = dict(os.environ, MUSICLM_SCREENSHOT=os.path.join(ROOT, "assets", "screenshot.png"))
    command = [sys.executable, "-m", "pytest", "tests/test_browser.py", "-q", "-rs", "--timeout", "600"]
    sys.exit(subprocess.call(command, cwd=ROOT, env=env))
