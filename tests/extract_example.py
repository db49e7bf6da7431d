#!/usr/bin/env python3
"""Writes the C code block that follows the readme-example marker in README.md."""
import sys

readme, output = sys.argv[1], sys.argv[2]
lines = open(readme, encoding='utf-8').read().splitlines()
start = lines.index('<!-- readme-example -->')
if lines[start + 1] != '```c':
    sys.exit('README.md: the readme-example marker must precede a ```c block')
end = lines.index('```', start + 2)
with open(output, 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines[start + 2:end]) + '\n')
