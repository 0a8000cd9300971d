#!/usr/bin/env python3
"""Checks that an SVG figure written by sri_plot_test parses as XML and carries its labels as text.

Usage: check_svg.py FIGURE.svg. Exits 0 when every expected label is present, 1 otherwise.
"""
import sys
import xml.etree.ElementTree as ElementTree

SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
EXPECTED_TEXTS = [
    "Generation Step",
    "Refusal Score",
    "Three prompts",
    "benign <poem> & \"quotes\"",
    "harmful",
    "jailbreak",
    "Text-level signal",
    "Compliance (\u03c3 \u2265 0.5)",
    "Refusal (\u03c3 < 0.5)",
    "Threshold 0.5",
    "Refusal threshold 0.3",
    "Refusal threshold 0.1",
]


def main() -> int:
    root = ElementTree.parse(sys.argv[1]).getroot()
    if root.tag != SVG_NAMESPACE + "svg":
        print(f"root element is {root.tag}, expected an svg element")
        return 1
    texts = [element.text for element in root.iter(SVG_NAMESPACE + "text")]
    missing = [text for text in EXPECTED_TEXTS if text not in texts]
    if missing:
        print(f"missing text elements: {missing}; found: {texts}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
