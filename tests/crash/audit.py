#!/usr/bin/env python3
"""Syscall-order audit of a wanctl run (reliability plan item 4).

Reads an `strace -f -y -qq` trace and checks, for every file or folder that
wanctl publishes under the state or production folder:
  1. the published file (or folder tree root) was fsynced before the
     link/rename that publishes it (regular files and folders; symlinks are
     covered by the fsync of their folder);
  2. the folder that gained the entry was fsynced after the publish;
  3. the success line on stdout was written after the last of those fsyncs.
Prints one line per violation and a summary; exits 1 on any violation.
"""
import os
import re
import sys

trace, root = sys.argv[1], os.path.realpath(sys.argv[2])

CALL = re.compile(r'^(\d+)\s+(\w+)\((.*)')
FDPATH = re.compile(r'^-?\w*\d*<([^>]*)>')


def args_of(rest):
    """Split the argument text of one syscall (good enough for our calls)."""
    out, cur, depth, q = [], '', 0, False
    i = 0
    while i < len(rest):
        c = rest[i]
        if q:
            cur += c
            if c == '\\':
                cur += rest[i + 1]
                i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True
            cur += c
        elif c in '<[{(':
            depth += 1
            cur += c
        elif c in '>]})':
            if depth == 0:
                out.append(cur.strip())
                return out
            depth -= 1
            cur += c
        elif c == ',' and depth == 0:
            out.append(cur.strip())
            cur = ''
        else:
            cur += c
        i += 1
    out.append(cur.strip())
    return out


def fd_path(a):
    m = re.search(r'<([^>]*)>', a)
    return m.group(1) if m else None


def str_arg(a):
    if a.startswith('"'):
        return a[1:a.rfind('"')]
    return None


def resolve(dirarg, name):
    if name.startswith('/'):
        return os.path.normpath(name)
    base = fd_path(dirarg) or os.getcwd()
    return os.path.normpath(os.path.join(base, name))


events = []  # (index, kind, data)
RESUMED = re.compile(r'^(\d+)\s+<\.\.\. (\w+) resumed>(.*)')


def calls(f):
    """Yield (name, args text, whole text) of completed calls, joining
    '<unfinished ...>' lines with their '<... resumed>' ends (per pid)."""
    pending = {}
    for line in f:
        r = RESUMED.match(line)
        if r:
            pid = r.group(1)
            if pid in pending:
                name, rest = pending.pop(pid)
                yield name, rest, rest + r.group(3)
            continue
        m = CALL.match(line)
        if not m:
            continue
        if line.rstrip().endswith('<unfinished ...>'):
            pending[m.group(1)] = (m.group(2), m.group(3).replace('<unfinished ...>', ''))
            continue
        yield m.group(2), m.group(3), line


with open(trace, errors='replace') as f:
    for name, rest, line in calls(f):
        if re.search(r'= -1 ', line):
            continue
        a = args_of(rest)
        if name in ('fsync', 'fdatasync'):
            p = fd_path(a[0])
            if p:
                events.append(('fsync', p))
        elif name == 'linkat':
            events.append(('publish', resolve(a[0], str_arg(a[1])), resolve(a[2], str_arg(a[3]))))
        elif name in ('renameat', 'renameat2'):
            events.append(('publish', resolve(a[0], str_arg(a[1])), resolve(a[2], str_arg(a[3]))))
        elif name == 'rename':
            events.append(('publish', os.path.normpath(str_arg(a[0])), os.path.normpath(str_arg(a[1]))))
        elif name == 'symlinkat':
            events.append(('symlink', resolve(a[1], str_arg(a[2]))))
        elif name == 'write' and a and a[0].startswith('1<') and 'completed' in line:
            events.append(('success',))

violations = []
symlinks = {e[1] for e in events if e[0] == 'symlink'}
fsynced = []  # ordered list of fsync paths
checked = 0
for i, e in enumerate(events):
    if e[0] != 'publish':
        continue
    src, dst = e[1], e[2]
    if not (dst.startswith(root + '/') or dst == root):
        continue
    if '/state.db' in dst or dst.endswith('.tmp') or '/tmp/' in dst.replace(root, '', 1) and '/.wanctl/tmp/' in dst:
        continue
    checked += 1
    before = {x[1] for x in events[:i] if x[0] == 'fsync'}
    after = [x[1] for x in events[i + 1:] if x[0] == 'fsync']
    if src not in symlinks and src not in before:
        # a folder tree: its root must have been fsynced
        violations.append(f'published {dst} from {src} without an fsync of {src} first')
    parent = os.path.dirname(dst)
    if parent not in after:
        violations.append(f'published {dst} but its folder {parent} was never fsynced afterwards')
    else:
        k = after.index(parent)
        j = next((n for n, x in enumerate(events[i + 1:]) if x[0] == 'success'), None)
        if j is not None and j < [n for n, x in enumerate(events[i + 1:]) if x[0] == 'fsync' and x[1] == parent][0]:
            violations.append(f'success printed before {parent} was fsynced after publishing {dst}')
if not any(e[0] == 'success' for e in events):
    violations.append('no success line seen on stdout')
for v in violations:
    print('VIOLATION:', v)
print(f'audit: {checked} publishes checked, {len(violations)} violations')
sys.exit(1 if violations or checked == 0 else 0)
