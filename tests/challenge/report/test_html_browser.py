"""The HTML report opened in a real headless browser (Chromium from the OS
packages: ``apt-get install chromium``); skipped with the reason where absent.

A probe copy of the report gets one inline script (its CSP widened for just
that) which counts the tables and the images the browser actually decoded,
and writes the counts into the DOM that ``--dump-dom`` prints.
"""

import json
import os
import re
import subprocess

import pytest

from challenge.report import build_report, write_report
from challenge.report.render_html import CSP
from milestones import load_registry
from tests.challenge.report import synthetic

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    tables: document.querySelectorAll("table").length,
    rows: document.querySelectorAll("tbody tr").length,
    images: images.length,
    decoded: images.filter(img => img.complete && img.naturalWidth > 100 && img.naturalHeight > 100).length,
    headings: Array.from(document.querySelectorAll("h2")).map(h => h.textContent),
  });
  document.body.appendChild(probe);
});
</script>"""


def chromium() -> str:
    found = os.environ.get("CHALLENGE_CHROMIUM") or next((c for c in CANDIDATES if os.path.exists(c)), None)
    if not found:
        pytest.skip("no headless browser: install Chromium (Debian/Ubuntu: apt-get install -y chromium) "
                    "or point CHALLENGE_CHROMIUM at one")
    return found


def run_browser(binary: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture
def html_report(tmp_path, clock):
    ws = synthetic.build(tmp_path, clock)
    report = build_report(workspace_root=ws.root, registry=load_registry(), now=synthetic.NOW)
    (path,) = write_report(report, fmt="html", output=tmp_path / "report.html")
    return path


def test_html_is_one_self_contained_file(html_report):
    text = html_report.read_text(encoding="utf-8")
    assert CSP in text and "<script" not in text
    assert not re.search(r"""(src|href)=["'](?!data:)""", text), "every resource must be inline"
    assert text.count('src="data:image/png;base64,') == 3


def test_html_renders_tables_and_images_in_chromium(html_report, tmp_path):
    binary = chromium()
    probe = tmp_path / "probe.html"
    text = html_report.read_text(encoding="utf-8")
    text = text.replace(CSP, CSP + "; script-src 'unsafe-inline'").replace("</body>", PROBE + "\n</body>")
    probe.write_text(text, encoding="utf-8")
    done = run_browser(binary, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert match, f"the probe did not run; browser output:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    seen = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    # milestones, groups, hours, pass predictions, ratings, and one attempts table per milestone
    assert seen["tables"] == 8 and seen["rows"] > 20
    assert seen["images"] == 3 and seen["decoded"] == 3, seen
    assert "Verdict" in seen["headings"] and "How the verdict is reached" in seen["headings"]


def test_html_screenshot_is_not_blank(html_report, tmp_path):
    binary = chromium()
    shot = tmp_path / "shot.png"
    done = run_browser(binary, tmp_path, f"--screenshot={shot}", "--window-size=1200,2400", html_report.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a blank page compresses to a few kB
