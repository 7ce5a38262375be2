#!/usr/bin/env python3
"""Fails when include/clt/status.h has a clt_status value that docs/errors.md does not
list as a row of its table ("| `CLT_ERR_X` (N) | ..."), with the same number, or when
the table lists a value status.h does not have: the table of errors stays true.

Usage: check_errors_doc.py STATUS_H ERRORS_MD
"""
import re
import sys


def main():
    status_h, errors_md = sys.argv[1], sys.argv[2]
    with open(status_h) as f:
        header = f.read()
    enum = re.search(r"typedef enum clt_status \{(.*?)\} clt_status;", header, re.S)
    if not enum:
        sys.exit("%s: no 'typedef enum clt_status { ... } clt_status;'" % status_h)
    values = dict((name, int(num)) for name, num in
                  re.findall(r"^\s*(CLT_[A-Z_]+)\s*=\s*(\d+)\s*,", enum.group(1), re.M))
    if not values:
        sys.exit("%s: no enumerators found in clt_status" % status_h)
    with open(errors_md) as f:
        rows = dict((name, int(num)) for name, num in
                    re.findall(r"^\|\s*`(CLT_[A-Z_]+)`\s*\((\d+)\)\s*\|", f.read(), re.M))
    problems = []
    for name, num in sorted(values.items(), key=lambda kv: kv[1]):
        if name not in rows:
            problems.append("%s (%d) is in %s but has no row in %s" %
                            (name, num, status_h, errors_md))
        elif rows[name] != num:
            problems.append("%s is %d in %s but (%d) in %s" %
                            (name, num, status_h, rows[name], errors_md))
    for name in sorted(set(rows) - set(values)):
        problems.append("%s has a row in %s but is not in %s" % (name, errors_md, status_h))
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print("%d status values, all in the table" % len(values))


if __name__ == "__main__":
    main()
