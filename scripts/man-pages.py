#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Man pages from the public headers: one libmsix_*(3) page per function
declared with LIBMSIX_EXPORT in include/*.h, and libmsix(7), the overview.

Each function's page is built from the kernel-doc comment right before its
declaration ("/** name() - brief", "@arg: ...", "Return: ...",
"Context: ...") and its prototype, written as Markdown and turned into a man
page by pandoc. The structures a prototype names are shown with their own
doc comments. libmsix(7) is each header's top comment plus the list of
functions, by header and section. Nothing here lists functions by hand:
a new declaration gets a page at the next build.

Usage: man-pages.py --out DIR [--pandoc PANDOC] [--version V] HEADER...
       man-pages.py --list HEADER...    print "name header" per function
A declaration without a "/** name() - " comment of its own is an error.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

EXPORT = "LIBMSIX_EXPORT"
SECTION_RE = re.compile(r"(?:(?<=^)|(?<=[.;:)]\s)|(?<=[.;:)]))\s*"
                        r"\b(Return|Context):\s*")


class DocError(Exception):
    pass


def strip_comment(text):
    """The body of a /** ... */ or /* ... */ comment, one string per line."""
    text = re.sub(r"^/\*\*?", "", text)
    text = re.sub(r"\*/$", "", text)
    lines = []
    for line in text.split("\n"):
        line = re.sub(r"^\s*\* ?", "", line, count=1)
        lines.append(line.rstrip())
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines:
        lines[0] = lines[0].lstrip()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def tokens(src):
    """Comments, banners and declarations of a header, in order."""
    pos = 0
    out = []
    for m in re.finditer(r"/\*.*?\*/", src, re.S):
        out.append(("code", src[pos:m.start()], pos))
        out.append(("comment", m.group(0), m.start()))
        pos = m.end()
    out.append(("code", src[pos:], pos))
    return out


def parse_header(path):
    """Top comment, and for each exported function: name, prototype, doc
    comment lines and the section banner it sits under."""
    src = open(path, encoding="utf-8").read()
    toks = tokens(src)
    top = None
    for kind, text, _ in toks:
        if kind == "comment" and "SPDX" not in text:
            top = strip_comment(text)
            break
    funcs = []
    banner = None
    last_doc = None     # (lines, end offset) of the last /** comment
    for i, (kind, text, off) in enumerate(toks):
        if kind == "comment":
            body = strip_comment(text)
            # A section banner: /* ---- */ /* Title */ /* ---- */
            if (not text.startswith("/**") and len(body) == 1 and
                    not body[0].strip().startswith("-") and
                    i >= 2 and re.fullmatch(r"/\*\s*-+\s*\*/",
                                            toks[i - 2][1].strip() or "x")):
                banner = body[0].strip()
            if text.startswith("/**"):
                last_doc = (body, off + len(text))
            continue
        # code: find every exported declaration in it
        for m in re.finditer(re.escape(EXPORT) + r"\b(.*?);", text, re.S):
            decl = " ".join(m.group(1).split())
            fm = re.search(r"\b(libmsix_\w+)\s*\(", decl)
            if not fm:
                continue
            name = fm.group(1)
            doc = None
            gap = text[:m.start()]
            if last_doc and last_doc[1] == off and not gap.strip():
                doc = last_doc[0]
            funcs.append({"name": name, "proto": decl.strip() + ";",
                          "doc": doc, "banner": banner,
                          "header": os.path.basename(path)})
            last_doc = None
    return top, funcs, src


def struct_docs(srcs):
    """name -> (doc lines, definition text) for every documented struct."""
    out = {}
    for src in srcs:
        for m in re.finditer(r"(/\*\*(?:(?!\*/).)*?\*/)\s*\n"
                             r"((?:struct|enum) (libmsix_\w+) \{.*?\n\};)",
                             src, re.S):
            out[m.group(3)] = (strip_comment(m.group(1)), m.group(2))
    return out


def split_doc(name, lines):
    """brief, description paragraphs, [(args, text)], return, context."""
    if not lines:
        raise DocError("%s: no doc comment right before its declaration"
                       % name)
    head = lines[0]
    m = re.match(re.escape(name) + r"\(\)\s+-\s*(.*)", head)
    if not m:
        raise DocError("%s: doc comment must start with \"%s() - \", "
                       "not %r" % (name, name, head))
    lines = [m.group(1)] + lines[1:]

    # Paragraphs of logical lines. An "@arg:" line, a list item or a
    # section keyword at the start of a line begins a new logical line;
    # indented lines continue the previous one.
    logical = logical_lines(lines, r"@\w+(?:,\s*@\w+)*\s*:|(?:[-*]|\d+\.)\s|"
                                   r"(?:Return|Context):")

    brief_and_rest = logical.pop(0)
    args, desc, ret, ctx = [], [], [], []
    cur = desc
    for ln in logical:
        if not ln:
            if cur is desc or cur is args:
                cur = desc
                desc.append("")
            continue
        # "Return:"/"Context:" may also start in the middle of a line.
        parts = re.split(r"(?:^|(?<=[.;)])\s+)(Return|Context):\s*", ln)
        first = parts[0].strip()
        if first:
            am = re.match(r"((?:@\w+(?:,\s*)?)+)\s*:\s*(.*)", first)
            if am:
                # "@a: x; @b: y" on one line: several arguments.
                for piece in re.split(r"(?:;|(?<=\.))\s+"
                                      r"(?=@\w+(?:,\s*@\w+)*\s*:)", first):
                    pm = re.match(r"((?:@\w+(?:,\s*)?)+)\s*:\s*(.*)", piece)
                    if pm:
                        names = re.findall(r"@(\w+)", pm.group(1))
                        args.append((names, pm.group(2).strip()))
                    elif args:
                        args[-1] = (args[-1][0], args[-1][1] + " " + piece)
                cur = args
            elif cur is args and args:
                args[-1] = (args[-1][0], args[-1][1] + " " + first)
            else:
                cur.append(first)
        for key, text in zip(parts[1::2], parts[2::2]):
            cur = ret if key == "Return" else ctx
            if text.strip():
                cur.append(text.strip())
    # The brief paragraph may also carry Return:/Context: inline.
    parts = re.split(r"(?:^|(?<=[.;)])\s+)(Return|Context):\s*",
                     brief_and_rest)
    brief_par = parts[0].strip()
    for key, text in zip(parts[1::2], parts[2::2]):
        (ret if key == "Return" else ctx).insert(0, text.strip())

    # NAME gets the first sentence (up to a colon, if one comes first);
    # then the description opens with the rest of the sentence or, when
    # NAME was cut at a colon, the whole paragraph.
    sm = re.match(r"(.+?)(?::\s|\.(?=\s+[A-Z(@]))(.*)$", brief_par)
    if sm:
        brief = sm.group(1)
        colon = brief_par[len(brief)] == ":"
        desc.insert(0, capital(brief_par) if colon else sm.group(2).strip())
    else:
        brief = brief_par.rstrip(".:")
    return brief, desc, args, ret, ctx


MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#+|~^$!])")


def md_plain(s):
    """Escape prose for a NAME line: no fonts, so whatis stays clean."""
    return MD_SPECIAL.sub(r"\\\1", re.sub(r"@(\w+)", r"\1", s))


def md_text(s, known):
    """Escape prose for Markdown, then mark up @args, functions and
    constants the way man pages do: arguments italic, functions bold
    with their section."""
    out = []
    pos = 0
    pat = re.compile(r"@(\w+)|\b(libmsix_\w+)\(\)|\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b"
                     r"|(-E[A-Z0-9]+)\b")
    for m in pat.finditer(s):
        out.append(MD_SPECIAL.sub(r"\\\1", s[pos:m.start()]))
        if m.group(1):
            out.append("*%s*" % m.group(1).replace("_", r"\_"))
        elif m.group(2):
            fn = m.group(2).replace("_", r"\_")
            out.append("**%s**(3)" % fn if m.group(2) in known
                       else "**%s**()" % fn)
        elif m.group(3):
            out.append("**%s**" % m.group(3).replace("_", r"\_"))
        else:
            out.append("**%s**" % m.group(4))
        pos = m.end()
    out.append(MD_SPECIAL.sub(r"\\\1", s[pos:]))
    text = "".join(out)
    # A leading "1." or "-" would start a list where none was meant.
    return re.sub(r"^(\d+)\.", r"\1\\.", text)


def md_paragraphs(lines, known):
    """Logical lines to Markdown blocks; list items stay list items."""
    blocks, para = [], []
    for ln in lines + [""]:
        lm = re.match(r"([-*]|\d+\.)\s+(.*)", ln)
        if lm or not ln:
            if para:
                blocks.append(md_text(" ".join(para), known))
                para = []
        if lm:
            marker = "-" if lm.group(1) in "-*" else lm.group(1)
            blocks.append("%s %s" % (marker, md_text(lm.group(2), known)))
        elif ln:
            para.append(ln)
    # Join consecutive list items without blank lines between them.
    out = []
    for b in blocks:
        is_item = bool(re.match(r"(-|\d+\.) ", b))
        if out and is_item and re.match(r"(-|\d+\.) ", out[-1][-1]):
            out[-1].append(b)
        else:
            out.append([b])
    return "\n\n".join("\n".join(g) for g in out)


def logical_lines(lines, starts):
    """Comment lines joined into logical lines: a blank line stays one
    (""), a line matching the regex @starts begins a new logical line, any
    other continues the one before."""
    logical = []
    for raw in lines:
        s = raw.strip()
        if not s:
            logical.append("")
            continue
        if logical and logical[-1] and not re.match(starts, s):
            logical[-1] += " " + s
        else:
            logical.append(s)
    return logical


def overview_lines(lines):
    """A header's top comment as logical lines (indented lines continue)."""
    return logical_lines(lines, r"(?:[-*]|\d+\.)\s|@\w+:")


def capital(t):
    """Sentence case, but never for a C keyword or identifier."""
    first = t.split(" ", 1)[0]
    if first in ("enum", "struct", "bool") or re.search(r"[_()*]", first):
        return t
    return t[:1].upper() + t[1:]


def meta(title, section, version):
    return ("---\ntitle: %s\nsection: %s\nheader: libmsix Manual\n"
            "footer: libmsix %s\n---\n\n" % (title, section, version))


def code_block(text):
    return "```\n%s\n```" % text


def page_md(f, known, structs, version):
    brief, desc, args, ret, ctx = split_doc(f["name"], f["doc"])
    # The page's own function is not a cross-reference.
    known = known - {f["name"]}
    md = [meta(f["name"].upper(), 3, version)]
    md.append("# NAME\n\n%s \\- %s\n" % (f["name"].replace("_", r"\_"),
                                        md_plain(brief)))
    proto = f["proto"]
    proto = re.sub(r"\s*\(\s*", "(", proto, count=1)
    proto = re.sub(r"\*\s+(?=libmsix_\w+\()", "*", proto)
    proto = proto.replace(", ", ",\n    ") if len(proto) > 72 else proto
    md.append("# SYNOPSIS\n\n" + code_block(
        "#include <%s>\n\n%s" % (f["header"], proto)) +
        "\n\nLink with *-lmsix* (`pkg-config --cflags --libs libmsix`).\n")
    text = md_paragraphs(desc, known).strip()
    if text:
        md.append("# DESCRIPTION\n\n" + text + "\n")
    if args:
        items = []
        for names, t in args:
            term = ", ".join("*%s*" % n.replace("_", r"\_") for n in names)
            items.append("%s\n:   %s\n" % (term, md_text(t, known)))
        md.append("# ARGUMENTS\n\n" + "\n".join(items))
    ret = [capital(t) for t in ret]
    ctx = [capital(t) for t in ctx]
    if ret:
        md.append("# RETURN VALUE\n\n" + md_paragraphs(ret, known) + "\n")
    if ctx:
        md.append("# CONTEXT\n\n" + md_paragraphs(ctx, known) + "\n")
    # The types the prototype names, and those the return value names.
    named = re.findall(r"(?:struct|enum) (libmsix_\w+)",
                       proto + " " + " ".join(ret))
    used = [s for s in dict.fromkeys(named) if s in structs]
    if used:
        parts = []
        for s in used:
            sdoc, sdef = structs[s]
            kind = sdef.split()[0]
            sl = [piece for ln in overview_lines(sdoc) for piece in
                  re.split(r"(?<=[.;])\s+(?=@\w+:)", ln)]
            if sl and re.match(r"%s %s\s+-\s*" % (kind, s), sl[0]):
                sl[0] = capital(re.sub(r"%s %s\s+-\s*" % (kind, s), "",
                                       sl[0]))
            prose = [ln for ln in sl if not re.match(r"@\w+:", ln)]
            members = [re.match(r"@(\w+):\s*(.*)", ln) for ln in sl]
            items = ["*%s*\n:   %s\n" % (m.group(1).replace("_", r"\_"),
                                          md_text(m.group(2), known))
                     for m in members if m]
            parts.append("## %s %s\n\n%s\n\n%s\n%s" % (
                kind, s.replace("_", r"\_"), md_paragraphs(prose, known),
                code_block(sdef), "\n" + "\n".join(items) if items else ""))
        md.append("# STRUCTURES\n\n" + "\n".join(parts))
    all_text = " ".join(desc + [t for _, t in args] + ret + ctx)
    see = sorted(set(re.findall(r"\b(libmsix_\w+)\(\)", all_text)) & known)
    refs = ["**libmsix**(7)"] + ["**%s**(3)" % s.replace("_", r"\_")
                                 for s in see]
    md.append("# SEE ALSO\n\n" + ", ".join(refs) + "\n")
    return "\n".join(md)


def overview_md(headers, version, known):
    md = [meta("LIBMSIX", 7, version)]
    md.append("# NAME\n\nlibmsix \\- the MSI-X vector lifecycle of a PCI "
              "function, for VMMs and device models\n")
    md.append("# SYNOPSIS\n\n" + code_block(
        "\n".join("#include <%s>" % os.path.basename(h["path"])
                  for h in headers)) +
        "\n\nLink with *-lmsix* (`pkg-config --cflags --libs libmsix`, or "
        "`find_package(libmsix)` and *libmsix::msix* in CMake).\n")
    for h in headers:
        name = os.path.basename(h["path"])
        md.append("# %s\n" % name.upper().replace("_", r"\_"))
        if h["top"]:
            md.append(md_paragraphs(overview_lines(h["top"]), known) + "\n")
        groups = {}
        for f in h["funcs"]:
            groups.setdefault(f["banner"] or "Functions", []).append(f)
        for banner, fs in groups.items():
            md.append("## %s\n" % md_text(banner, set()))
            for f in fs:
                brief = split_doc(f["name"], f["doc"])[0]
                md.append("**%s**(3)\n:   %s\n" % (
                    f["name"].replace("_", r"\_"), md_text(brief, set())))
    md.append("# SEE ALSO\n\nThe documentation shipped with the source: "
              "README.md, docs/getting-started.md, docs/design.md, "
              "docs/rules.md (the rules R1\\-R42 and bug classes V1\\-V25 "
              "that log messages cite).\n")
    return "\n".join(md)


def pandoc(binary, md, out):
    r = subprocess.run([binary, "-s", "-f", "markdown-smart", "-t", "man",
                        "-o", out], input=md.encode(), capture_output=True)
    if r.returncode or r.stderr:
        raise DocError("pandoc failed for %s: %s" % (out, r.stderr.decode()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--pandoc", default="pandoc")
    ap.add_argument("--version", default="0")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--markdown", action="store_true",
                    help="also keep the Markdown next to each page")
    ap.add_argument("headers", nargs="+")
    a = ap.parse_args()

    headers, srcs = [], []
    # libmsix.h first: the overview starts with the core.
    for path in sorted(a.headers, key=lambda p: (os.path.basename(p) !=
                                                 "libmsix.h", p)):
        top, funcs, src = parse_header(path)
        headers.append({"path": path, "top": top, "funcs": funcs})
        srcs.append(src)
    funcs = [f for h in headers for f in h["funcs"]]
    known = {f["name"] for f in funcs}
    if a.list:
        for f in funcs:
            print(f["name"], f["header"])
        return 0
    if not a.out:
        ap.error("--out is required")

    structs = struct_docs(srcs)
    errors, jobs = [], []
    for f in funcs:
        try:
            jobs.append((page_md(f, known, structs, a.version),
                         os.path.join(a.out, "man3", f["name"] + ".3")))
        except DocError as e:
            errors.append(str(e))
    if errors:
        for e in errors:
            print("man-pages: " + e, file=sys.stderr)
        return 1
    jobs.append((overview_md(headers, a.version, known),
                 os.path.join(a.out, "man7", "libmsix.7")))

    # Start from empty directories: a function that went away loses its page.
    for sub in ("man3", "man7"):
        shutil.rmtree(os.path.join(a.out, sub), ignore_errors=True)
        os.makedirs(os.path.join(a.out, sub))
    if a.markdown:
        for md, out in jobs:
            open(out + ".md", "w", encoding="utf-8").write(md)
    with ThreadPoolExecutor(max_workers=2) as ex:
        for r in ex.map(lambda j: pandoc(a.pandoc, j[0], j[1]), jobs):
            pass
    print("man-pages: %d pages in %s" % (len(jobs), a.out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DocError as e:
        print("man-pages: " + str(e), file=sys.stderr)
        sys.exit(1)
