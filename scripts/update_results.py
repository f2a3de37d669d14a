"""Regenerate the tables of docs/results.md from experiment dirs: `python scripts/update_results.py [DIR]`.

Each ``<!-- experiment: NAME -->`` ... ``<!-- /experiment -->`` block is replaced by the output of
``srd experiment --table DIR/NAME`` when ``DIR/NAME/experiment.jsonl`` exists (DIR: runs/experiments);
blocks of experiments not run yet are left as they are.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from srd_core.experiment.cli import print_table

DOC = Path(__file__).resolve().parent.parent / "docs" / "results.md"
BLOCK = re.compile(r"(<!-- experiment: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /experiment -->)", re.S)


def main(root: Path) -> int:
    text = DOC.read_text(encoding="utf-8")
    updated = []

    def replace(match: re.Match) -> str:
        directory = root / match["name"]
        if not (directory / "experiment.jsonl").is_file():
            return match[0]
        updated.append(match["name"])
        return f"{match[1]}{print_table(directory)}{match[4]}"

    DOC.write_text(BLOCK.sub(replace, text), encoding="utf-8")
    print(f"{DOC}: updated {', '.join(updated) or 'nothing'} from {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/experiments")))
