#!/usr/bin/env python3
"""Keeps the public C API documented: fails, naming header, line and function, when a
CLT_API declaration in include/clt/*.h has no comment directly above it, or when a
function that returns clt_status has a comment without an "Errors" statement.

"Directly above": the comment ends on the line before the declaration, or before a run
of CLT_API declarations with no blank line between them, which then share it
(clt_f32_to_f16 and its siblings). An "Errors" statement is the word "Errors" in that
comment; where it points to a rule stated once for the file ("Errors: ... (clt.h)",
"... the top of this file"), that rule must exist: the top comment of clt.h, or of the
same header, must itself have an "Errors" paragraph.

Usage: check_api_docs.py INCLUDE_DIR         check include/clt/*.h
       check_api_docs.py --self-test INCLUDE_DIR
                                             copy the headers to a temporary directory,
                                             break them in each way above, and fail
                                             unless every break is reported (and the
                                             unbroken copy passes)
"""
import glob
import os
import re
import shutil
import sys
import tempfile

ERRORS = re.compile(r"\bErrors\b")
REFERS_TO_CLT_H = re.compile(r"\(clt\.h\)|clt/clt\.h")
REFERS_TO_TOP = re.compile(r"top of this (file|header)")


def comments_and_code(text):
    """Splits the text into (kind, first_line, last_line, text) pieces: 'comment' for
    /* */ and // comments, 'code' for each other non-blank line, 'blank' for blank
    lines. Lines count from 1."""
    pieces = []
    i, line, n = 0, 1, len(text)
    while i < n:
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            body = text[i:end]
            pieces.append(("comment", line, line + body.count("\n"), body))
            line += body.count("\n")
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            pieces.append(("comment", line, line, text[i:end]))
            i = end
        elif text[i] == "\n":
            # a newline that ends a line holding nothing but whitespace is a blank line
            start = text.rfind("\n", 0, i) + 1
            if text[start:i].strip() == "":
                pieces.append(("blank", line, line, ""))
            line += 1
            i += 1
        elif text[i] in " \t\r":
            i += 1
        else:
            # code up to the end of the line or the start of a comment on it
            end = i
            while end < n and text[end] != "\n" and not text.startswith("/*", end) \
                    and not text.startswith("//", end):
                end += 1
            pieces.append(("code", line, line, text[i:end]))
            i = end
    return merge_code(pieces)


def merge_code(pieces):
    """Joins consecutive code pieces of one statement (a declaration over several
    lines) so that a CLT_API declaration is one piece up to its ';'."""
    out = []
    for p in pieces:
        if p[0] == "code" and out and out[-1][0] == "code" and \
                out[-1][3].lstrip().startswith("CLT_API") and not out[-1][3].rstrip().endswith(";"):
            prev = out.pop()
            out.append(("code", prev[1], p[2], prev[3] + " " + p[3]))
        else:
            out.append(p)
    return out


def declaration(code):
    """(return type, function name) of a CLT_API declaration, or None."""
    m = re.match(r"\s*CLT_API\s+(.*?)\b(clt_\w+)\s*\(", code, re.S)
    if not m:
        return None
    return " ".join(m.group(1).replace("*", " * ").split()), m.group(2)


def errors_statement(comment, start):
    """The sentence of the comment that begins with "Errors" at `start`: up to a full
    stop followed by a new sentence, or the comment's end."""
    end = re.compile(r"\.\s+(\*\s+)?[A-Z]|\*/").search(comment, start)
    return comment[start:end.start() if end else len(comment)]


def top_comment(pieces):
    for p in pieces:
        if p[0] == "comment":
            return p[3]
        if p[0] == "code":
            return ""
    return ""


def check_dir(include_dir):
    """Returns (problems, number of declarations checked)."""
    headers = sorted(glob.glob(os.path.join(include_dir, "*.h")))
    if not headers:
        return ["%s: no headers" % include_dir], 0
    parsed = {}
    for path in headers:
        with open(path, encoding="utf-8") as f:
            parsed[path] = comments_and_code(f.read())
    clt_h = os.path.join(include_dir, "clt.h")
    clt_h_rule = ERRORS.search(top_comment(parsed.get(clt_h, [])) or "") is not None
    problems, checked = [], 0
    for path in headers:
        pieces = parsed[path]
        name = os.path.basename(path)
        file_rule = ERRORS.search(top_comment(pieces)) is not None
        for k, p in enumerate(pieces):
            if p[0] != "code" or not p[3].lstrip().startswith("CLT_API"):
                continue
            decl = declaration(p[3])
            if not decl:
                continue  # a variable or macro use, not a function
            ret, fn = decl
            checked += 1
            # walk up over a run of CLT_API declarations sharing the comment above it
            j = k - 1
            while j >= 0 and pieces[j][0] == "code" and \
                    pieces[j][3].lstrip().startswith("CLT_API"):
                j -= 1
            where = "%s:%d: %s" % (name, p[1], fn)
            if j < 0 or pieces[j][0] != "comment" or pieces[j][2] < pieces[j + 1][1] - 1:
                problems.append("%s: no comment directly above the declaration" % where)
                continue
            comment = pieces[j][3]
            if ret != "clt_status":
                continue
            found = ERRORS.search(comment)
            if not found:
                problems.append("%s: returns clt_status but its comment has no \"Errors\" "
                                "statement" % where)
                continue
            statement = errors_statement(comment, found.start())
            if REFERS_TO_CLT_H.search(statement) and not clt_h_rule:
                problems.append("%s: its Errors statement refers to clt.h, whose top "
                                "comment states no Errors rule" % where)
            elif REFERS_TO_TOP.search(statement) and not file_rule:
                problems.append("%s: its Errors statement refers to the top of %s, whose "
                                "top comment states no Errors rule" % (where, name))
    if checked == 0:
        problems.append("%s: no CLT_API function declarations found" % include_dir)
    return problems, checked


def self_test(include_dir):
    """Breaks a copy of the headers in each way the check must catch."""
    breaks = [
        ("an undocumented declaration", "op.h",
         lambda t: t.replace("\n#ifdef __cplusplus\n}",
                             "\n\nCLT_API clt_status clt_undocumented(clt_context *ctx);"
                             "\n#ifdef __cplusplus\n}", 1),
         "clt_undocumented: no comment directly above"),
        ("a comment with a blank line before the declaration", "tensor.h",
         lambda t: t.replace("\nCLT_API int64_t clt_tensor_numel", "\n\nCLT_API int64_t "
                             "clt_tensor_numel", 1),
         "clt_tensor_numel: no comment directly above"),
        ("a clt_status function without Errors", "op.h",
         lambda t: t.replace("\n#ifdef __cplusplus\n}",
                             "\n/* Does something. */\nCLT_API clt_status clt_no_errors("
                             "clt_context *ctx,\n    int x);\n#ifdef __cplusplus\n}", 1),
         "clt_no_errors: returns clt_status but its comment has no \"Errors\""),
        ("clt.h without its Errors rule", "clt.h",
         lambda t: ERRORS.sub("Failures", t),
         "refers to clt.h, whose top comment states no Errors rule"),
        ("a header without the Errors rule its functions refer to", "offload.h",
         lambda t: t.replace(" * Errors, for every function below", " * Failures, for "
                             "every function below", 1),
         "refers to the top of offload.h, whose top comment states no Errors rule"),
    ]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "clt")
        shutil.copytree(include_dir, copy)
        problems, checked = check_dir(copy)
        if problems:
            failures.append("the unbroken copy fails: " + "; ".join(problems))
        for what, header, edit, expect in breaks:
            path = os.path.join(copy, header)
            with open(path, encoding="utf-8") as f:
                original = f.read()
            broken = edit(original)
            if broken == original:
                failures.append("%s: the edit of %s did not apply" % (what, header))
                continue
            with open(path, "w", encoding="utf-8") as f:
                f.write(broken)
            problems, _ = check_dir(copy)
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
            if not any(expect in p for p in problems):
                failures.append("%s: not reported (got: %s)" %
                                (what, "; ".join(problems) or "no problems"))
            else:
                print("caught %s: %s" % (what, next(p for p in problems if expect in p)))
    return failures, checked


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--self-test":
        failures, checked = self_test(args[1])
        for f in failures:
            print("FAIL: " + f)
        if failures:
            sys.exit(1)
        print("self-test: every break caught; the unbroken copy (%d declarations) passes"
              % checked)
        return
    if len(args) != 1 or args[0].startswith("-"):
        sys.exit(__doc__)
    problems, checked = check_dir(args[0])
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print("%d CLT_API declarations, each with a comment; every clt_status one states its "
          "errors" % checked)


if __name__ == "__main__":
    main()
