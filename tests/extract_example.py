#!/usr/bin/env python3
"""Writes the C code block that follows a marker line in a Markdown file.

usage: extract_example.py FILE.md MARKER OUTPUT.c
The marker is an HTML comment line, <!-- MARKER -->, right before a ```c block.
"""
import sys

markdown, marker, output = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(markdown, encoding='utf-8').read().splitlines()
try:
    start = lines.index('<!-- %s -->' % marker)
except ValueError:
    sys.exit('%s: no <!-- %s --> marker' % (markdown, marker))
if start + 1 >= len(lines) or lines[start + 1] != '```c':
    sys.exit('%s: the %s marker must precede a ```c block' % (markdown, marker))
end = lines.index('```', start + 2)
with open(output, 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines[start + 2:end]) + '\n')
