"""JQL lexer (jql.md §2.3): turns a query string into tokens.

Longest match, and on a tie the earlier rule wins, so:

- a run of unquoted-string characters is one token; it is a keyword or a
  number only if the *whole* run is one (``assigneein`` is a string, ``-5`` a
  number, ``-4w`` / ``2019-11-15`` / ``3.14`` strings);
- a run containing a backslash escape is always a string (``\\u0061nd`` is
  the string ``and``, not the keyword).

Lexical errors do not raise at once: the lexer emits one ``ERROR`` token and
stops, and the parser raises when it reaches it, so the user always sees the
leftmost problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tickets.jql.errors import JqlSyntaxError

# Keyword tokens (case-insensitive). NULL is a synonym of EMPTY; CF is the custom-field prefix.
KEYWORDS = {
    "and": "AND", "or": "OR", "not": "NOT", "in": "IN", "is": "IS", "empty": "EMPTY",
    "null": "EMPTY", "was": "WAS", "changed": "CHANGED", "before": "BEFORE", "after": "AFTER",
    "from": "FROM", "to": "TO", "on": "ON", "during": "DURING", "order": "ORDER", "by": "BY",
    "asc": "ASC", "desc": "DESC", "cf": "CF",
}

# Reserved words: must be quoted wherever they appear (jql.md §2.3).  This is the
# editor grammar's list plus ``all``, which Jira's server also reserves.
RESERVED_WORDS = frozenset("""
abort access add after alias all alter and any as asc audit avg begin between boolean break by
byte catch changed char character check checkpoint collate collation column commit connect
continue count create current date decimal declare decrement default defaults define delete
delimiter desc difference distinct divide do double drop else empty encoding end equals escape
exclusive exec execute exists explain false fetch field file first float for from function go
goto grant greater group having identified if immediate in increment index initial inner inout
input insert int integer intersect intersection into is isempty isnull join last left less like
limit lock long max min minus mode modify modulo more multiply next noaudit not notin nowait null
number object of on option or order outer output power previous prior privileges public raise
raw remainder rename resource return returns revoke right row rowid rownum rows select session
set share size sqrt start strict string subtract sum synonym table then to trans transaction
trigger true uid union unique update user validate values view when whenever where while with
""".split()) - set(KEYWORDS)

#: Characters Jira reserves for future use; never allowed unquoted.
RESERVED_CHARS = frozenset("{}*/%+^$#@?;")
#: Characters that end an unquoted string because they are tokens of their own.
SPECIAL_CHARS = frozenset("\"'=!<>()~,[]|&")
WHITESPACE = frozenset(" \t\r\n")
ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}
NUMBER_RE = re.compile(r"-?[0-9]+\Z")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def is_control(ch: str) -> bool:
    """Jira's control characters: U+0000–001F, U+007F–009F, U+FDD0–FDEF, U+FFFE–FFFF."""
    o = ord(ch)
    return o <= 0x1F or 0x7F <= o <= 0x9F or 0xFDD0 <= o <= 0xFDEF or 0xFFFE <= o <= 0xFFFF


def is_unquoted_char(ch: str) -> bool:
    """May ``ch`` appear literally (unescaped) in an unquoted string?"""
    return not (ch in WHITESPACE or ch in SPECIAL_CHARS or ch in RESERVED_CHARS or ch == "\\"
                or is_control(ch) or 0xD800 <= ord(ch) <= 0xDFFF)


def describe_char(ch: str) -> str:
    if ch.isprintable() and not is_control(ch):
        return f"'{ch}'"
    return f"U+{ord(ch):04X}"


@dataclass(frozen=True)
class Token:
    """``kind`` is one of: ``( ) , [ ]``, ``OP`` (``text`` is the operator), ``AND``, ``OR``,
    ``BANG``, a keyword name from :data:`KEYWORDS`, ``NUMBER``, ``STRING`` (unquoted),
    ``QSTRING`` (quoted), ``RESERVED`` (a reserved word), ``ERROR`` or ``EOF``."""

    kind: str
    text: str  # the source text of the token
    pos: int
    value: str = ""  # decoded text for NUMBER / STRING / QSTRING
    error: JqlSyntaxError | None = None

    @property
    def is_string(self) -> bool:
        return self.kind in ("STRING", "QSTRING")


def _join_surrogates(s: str) -> str:
    """Combine UTF-16 surrogate pairs written as ``\\uD83D\\uDE00`` into one character."""
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        return s
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.tokens: list[Token] = []

    def _escape(self, start: int) -> tuple[str, int] | JqlSyntaxError:
        """Decode the escape whose backslash is at ``start``; return (char, next index) or an error."""
        text = self.text
        nxt = text[start + 1] if start + 1 < len(text) else ""
        if nxt in ESCAPES:
            return ESCAPES[nxt], start + 2
        if nxt == "u":
            hexdigits = text[start + 2:start + 6]
            if len(hexdigits) == 4 and all(c in "0123456789abcdefABCDEF" for c in hexdigits):
                return chr(int(hexdigits, 16)), start + 6
            shown = "\\u" + hexdigits
            return JqlSyntaxError(
                f"'{shown}' at position {start} is an illegal JQL escape sequence:"
                " \\u needs exactly four hex digits, e.g. \\u00e9", start)
        if nxt == "":
            return JqlSyntaxError(
                f"a lone backslash at position {start} ends the query: write \\\\ for a backslash", start)
        shown = "\\" + (nxt if nxt.isprintable() else f"U+{ord(nxt):04X}")
        return JqlSyntaxError(
            f"'{shown}' at position {start} is an illegal JQL escape sequence:"
            " use \\t \\n \\r \\\" \\' \\\\ \\<space> or \\uXXXX (write \\\\ for a backslash)", start)

    def _error(self, err: JqlSyntaxError) -> None:
        self.tokens.append(Token("ERROR", self.text[err.position:err.position + 1], err.position, error=err))

    def run(self) -> list[Token]:
        text, n = self.text, len(self.text)
        while True:
            while self.i < n and text[self.i] in WHITESPACE:
                self.i += 1
            if self.i >= n:
                self.tokens.append(Token("EOF", "", n))
                return self.tokens
            start, ch = self.i, text[self.i]
            two = text[start:start + 2]
            if ch in "()[],":
                self.tokens.append(Token(ch, ch, start))
                self.i += 1
            elif ch in "\"'":
                if not self._quoted(start, ch):
                    return self._stop()
            elif two in ("!=", "!~", "<=", ">="):
                self.tokens.append(Token("OP", two, start))
                self.i += 2
            elif ch in "=~<>":
                self.tokens.append(Token("OP", ch, start))
                self.i += 1
            elif ch == "!":
                self.tokens.append(Token("BANG", ch, start))
                self.i += 1
            elif ch in "&|":
                length = 2 if two == ch * 2 else 1
                self.tokens.append(Token("AND" if ch == "&" else "OR", text[start:start + length], start))
                self.i += length
            elif ch in RESERVED_CHARS:
                self._error(JqlSyntaxError(
                    f"'{ch}' at position {start} is a reserved character: put the value in quotes"
                    f" (or escape it as \\u{ord(ch):04x})", start))
                return self._stop()
            elif ch == "\\" or is_unquoted_char(ch):
                if not self._unquoted(start):
                    return self._stop()
            else:  # a control character outside quotes
                self._error(JqlSyntaxError(
                    f"unexpected character {describe_char(ch)} at position {start}:"
                    f" write it inside quotes as \\u{ord(ch):04x}", start))
                return self._stop()

    def _stop(self) -> list[Token]:
        self.tokens.append(Token("EOF", "", len(self.text)))
        return self.tokens

    def _unquoted(self, start: int) -> bool:
        text, n = self.text, len(self.text)
        i, out, escaped = start, [], False
        while i < n:
            ch = text[i]
            if ch == "\\":
                res = self._escape(i)
                if isinstance(res, JqlSyntaxError):
                    if i > start:  # the string so far is a token; the bad escape comes next
                        break
                    self._error(res)
                    return False
                out.append(res[0])
                i = res[1]
                escaped = True
            elif is_unquoted_char(ch):
                out.append(ch)
                i += 1
            else:
                break
        raw = text[start:i]
        self.i = i
        if not escaped:
            low = raw.lower()
            if low in KEYWORDS:
                kind = KEYWORDS[low]
                self.tokens.append(Token(kind, raw, start))
                return True
            if low in RESERVED_WORDS:
                self.tokens.append(Token("RESERVED", raw, start))
                return True
            if NUMBER_RE.match(raw):
                self.tokens.append(Token("NUMBER", raw, start, raw))
                return True
        self.tokens.append(Token("STRING", raw, start, _join_surrogates("".join(out))))
        return True

    def _quoted(self, start: int, quote: str) -> bool:
        text, n = self.text, len(self.text)
        i, out = start + 1, []
        while True:
            if i >= n:
                kind = "double" if quote == '"' else "single"
                self._error(JqlSyntaxError(
                    f"unterminated string starting at position {start}:"
                    f" add the closing {kind} quote ({quote})", start))
                return False
            ch = text[i]
            if ch == quote:
                break
            if ch == "\\":
                res = self._escape(i)
                if isinstance(res, JqlSyntaxError):
                    self._error(res)
                    return False
                out.append(res[0])
                i = res[1]
            elif is_control(ch) and ch not in "\r\n":
                hint = "\\t" if ch == "\t" else f"\\u{ord(ch):04x}"
                self._error(JqlSyntaxError(
                    f"control character {describe_char(ch)} at position {i} is not allowed in a"
                    f" quoted string: write it as {hint}", i))
                return False
            else:
                out.append(ch)
                i += 1
        self.i = i + 1
        self.tokens.append(Token("QSTRING", text[start:i + 1], start, _join_surrogates("".join(out))))
        return True


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text``, ending with ``EOF``; a lexical error is an ``ERROR`` token just before it."""
    return _Lexer(text).run()
