#!/usr/bin/env python3
"""Write tricky prompt fixtures for tests/io and their expected parse from Python's own readers.

    python3 tests/io/data/make_prompt_fixtures.py
Outputs beside this script: tricky.csv (CRLF records, quoted commas, doubled quotes, line breaks
inside quotes, a blank row, non-ASCII text), tricky.jsonl, and prompts.expected.json holding the
`goal` column as Python's csv.DictReader reads it and the `text` fields as json.loads reads them.
"""
import csv
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent

CSV_TEXT = (
    'id,goal,target\r\n'
    '1,"Write a poem, with commas","Sure, here"\r\n'
    '2,"She said ""hi"" twice",x\r\n'
    '3,"Line one\r\nline two\nline three",y\r\n'
    '\r\n'
    '4,plain unquoted text,z\r\n'
    '5,"Ünïcödé — 日本語 🙂",w\r\n'
    '7,a quote " inside unquoted,v\r\n'
    '8,"trailing spaces  ",u'
)

JSONL_TEXT = (
    '{"text": "first \\"quoted\\"", "id": 1}\n'
    '\n'
    '"a bare string line"\n'
    '{"text": "unicode \\u00e9 and \\ud83d\\ude42", "id": 3}\r\n'
)


def main() -> None:
    (HERE / "tricky.csv").write_bytes(CSV_TEXT.encode("utf-8"))
    (HERE / "tricky.jsonl").write_bytes(JSONL_TEXT.encode("utf-8"))
    with open(HERE / "tricky.csv", newline="", encoding="utf-8") as handle:
        goals = [row["goal"] for row in csv.DictReader(handle)]
    lines = [json.loads(line) for line in JSONL_TEXT.splitlines() if line.strip()]
    texts = [item if isinstance(item, str) else item["text"] for item in lines]
    expected = {"reference": f"Python {sys.version.split()[0]} csv and json modules",
                "tricky.csv": {"goal": goals}, "tricky.jsonl": {"text": texts}}
    (HERE / "prompts.expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n",
                                                encoding="utf-8")


if __name__ == "__main__":
    main()
