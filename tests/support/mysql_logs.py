"""Real MySQL-family logs changed in exactly one documented way (the issue-14 edge cases), shared by
the parser, C-accelerator and live pt-query-digest tests."""
from __future__ import annotations


def ps8_split_tmp_tables(data: bytes) -> bytes:
    """Percona Server 8 before PS-7492 put the tmp-table figures on a line of their own, without '#'."""
    out = data.replace(b"# Bytes_sent: 312  Tmp_tables:", b"# Bytes_sent: 312\n  Tmp_tables:")
    assert out != data
    return out


def query_time_first(data: bytes) -> bytes:
    """Every entry's `# Query_time:` line moved above its `# Time:` line."""
    lines = data.split(b"\n")
    out, i = [], 0
    while i < len(lines):
        if (lines[i].startswith(b"# Time: ") and i + 2 < len(lines) and lines[i + 1].startswith(b"# User@Host: ")
                and lines[i + 2].startswith(b"# Query_time: ")):
            out += [lines[i + 2], lines[i], lines[i + 1]]
            i += 3
        else:
            out.append(lines[i])
            i += 1
    assert out != lines
    return b"\n".join(out)
