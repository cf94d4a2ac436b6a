"""Each chapter's prose words, reading time and stored cpu run time — book/intro.md's table.

    python scripts/chapter_times.py        # prints the table's rows (markdown)

Reading: the words of the markdown cells (solutions included) at 200 a minute. Run: from
the first cell's start to the last cell's end, by the execution timestamps the stored
notebook carries (the cpu preset). tests/test_docs.py checks intro.md shows these rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS_PER_MINUTE = 200
MAX_WORDS = 4_500  # one class session a chapter


def prose_words(nb: dict) -> int:
    return sum(len("".join(c["source"]).split()) for c in nb["cells"] if c["cell_type"] == "markdown")


def run_seconds(nb: dict) -> float | None:
    starts, ends = [], []
    for c in nb["cells"]:
        e = c.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in e and "shell.execute_reply" in e:
            starts.append(datetime.fromisoformat(e["iopub.execute_input"].replace("Z", "+00:00")))
            ends.append(datetime.fromisoformat(e["shell.execute_reply"].replace("Z", "+00:00")))
    return (max(ends) - min(starts)).total_seconds() if starts else None


def rows() -> list[str]:
    out, total_words, total_s = [], 0, 0.0
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        title = "".join(nb["cells"][0]["source"]).splitlines()[0].lstrip("# ")
        title = title.replace("Chapter ", "", 1)
        words, seconds = prose_words(nb), run_seconds(nb) or 0.0
        total_words, total_s = total_words + words, total_s + seconds
        out.append(f"| {title} | {words:,} | {round(words / WORDS_PER_MINUTE)} min | "
                   f"{seconds:,.0f} s ({seconds / 60:.1f} min) |")
    out.append(f"| all {len(out)} | {total_words:,} | {total_words / WORDS_PER_MINUTE / 60:.1f} h | "
               f"{total_s:,.0f} s ({total_s / 60:.1f} min) |")
    return out


if __name__ == "__main__":
    print("| chapter | prose words | reading | run (cpu preset) |\n|---|---|---|---|")
    print("\n".join(rows()))
