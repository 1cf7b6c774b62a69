"""Compare two sets of protobuf schemas element by element.

A schema is flattened into a table of *elements*, each with a key that survives
renaming what it holds and a value of the facts the wire (and Mesos JSON) depend on:

* ``file <path>``: package, syntax, imports, file options, services, extensions;
* ``message <full name>``: message options, oneof names, extension and reserved ranges;
* ``field <message full name> #<number>``: name, type, type name (resolved to its
  fully qualified name, whatever the source wrote), label, default value, oneof,
  proto3 ``optional``, and the field options (``packed`` and ``deprecated`` among
  them, compared by effect: an unset ``deprecated`` equals ``deprecated = false``);
* ``enum <full name>``: enum options and reserved ranges;
* ``enum value <enum full name>.<name>``: number and options.

Nested messages and enums are elements of their own. ``diff`` lists what one side
has that the other lacks and every fact that differs, one readable line each.
"""

import math

from google.protobuf import descriptor_pb2 as d

F = d.FieldDescriptorProto
_SCALAR_NUMERIC = {
    F.TYPE_DOUBLE, F.TYPE_FLOAT, F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_INT32, F.TYPE_FIXED64,
    F.TYPE_FIXED32, F.TYPE_BOOL, F.TYPE_UINT32, F.TYPE_ENUM, F.TYPE_SFIXED32, F.TYPE_SFIXED64,
    F.TYPE_SINT32, F.TYPE_SINT64,
}
KINDS = ("file", "message", "field", "enum", "enum value")


class Symbols:
    """Every message and enum name defined by a set of files, for name resolution."""

    def __init__(self, files):
        self.kind = {}  # full name, no leading dot -> TYPE_MESSAGE or TYPE_ENUM
        self.packages = set()
        for fd in files:
            prefix = fd.package + "." if fd.package else ""
            parts = fd.package.split(".") if fd.package else []
            for i in range(1, len(parts) + 1):
                self.packages.add(".".join(parts[:i]))
            self._add(prefix, fd.message_type, fd.enum_type)

    def _add(self, prefix, messages, enums):
        for e in enums:
            self.kind[prefix + e.name] = F.TYPE_ENUM
        for m in messages:
            self.kind[prefix + m.name] = F.TYPE_MESSAGE
            self._add(prefix + m.name + ".", m.nested_type, m.enum_type)

    def resolve(self, name, scope):
        """The full name (leading dot) that `name`, written inside `scope`, refers to.

        protobuf's rule: a leading dot means fully qualified; otherwise the first
        component is looked up from the innermost scope outwards, and the rest is
        resolved inside what it found.
        """
        if name.startswith("."):
            return name
        first, _, rest = name.partition(".")
        scopes = scope.split(".") if scope else []
        for k in range(len(scopes), -1, -1):
            base = ".".join(scopes[:k] + [first])
            if base in self.kind or base in self.packages:
                return "." + base + ("." + rest if rest else "")
        return name  # unresolvable: kept as written, so it shows up as a difference

    def kind_of(self, full_name):
        return self.kind.get(full_name.lstrip("."))


def _options(opts, drop_false=("deprecated",)):
    """Set options as {name: value}, without the ones that equal their default."""
    out = {}
    for fdesc, value in opts.ListFields():
        if fdesc.name in drop_false and value is False:
            continue
        out[fdesc.name] = value if not hasattr(value, "ListFields") else str(value)
    return out


def _default(field):
    if not field.HasField("default_value"):
        return None
    value = field.default_value
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        number = float(value)  # protoc and protox spell some floats differently
        return "nan" if math.isnan(number) else repr(number)
    return value


def _ranges(ranges):
    return [(r.start, r.end) for r in ranges]


def flatten(fd, symbols, rename_import=lambda path: path, file_name=None):
    """{(kind, key): {fact: value}} for one FileDescriptorProto.

    `symbols` resolves relative type names (a Symbols over the file and its imports);
    `rename_import` maps an import path to the name it has on the other side, and
    `file_name` is the file's own (default: its path in the descriptor).
    """
    table = {}
    syntax = fd.syntax or "proto2"
    table[("file", file_name or fd.name)] = {
        "package": fd.package,
        "syntax": syntax,
        "imports": [rename_import(p) for p in fd.dependency],
        "public imports": list(fd.public_dependency),
        "options": _options(fd.options),
        "services": sorted(s.name for s in fd.service),
        "extensions": sorted(e.name for e in fd.extension),
    }

    def enum(e, scope):
        full = scope + "." + e.name if scope else e.name
        table[("enum", full)] = {
            "options": _options(e.options),
            "reserved": _ranges(e.reserved_range),
            "reserved names": sorted(e.reserved_name),
        }
        for v in e.value:
            table[("enum value", full + "." + v.name)] = {
                "number": v.number,
                "options": _options(v.options),
            }

    def message(m, scope):
        full = scope + "." + m.name if scope else m.name
        table[("message", full)] = {
            "options": _options(m.options),
            "oneofs": [o.name for o in m.oneof_decl],
            "extension ranges": _ranges(m.extension_range),
            "reserved": _ranges(m.reserved_range),
            "reserved names": sorted(m.reserved_name),
        }
        for f in m.field:
            type_name, kind = "", f.type
            if f.type_name:
                type_name = symbols.resolve(f.type_name, full)
                if not f.HasField("type"):  # a parser's output: resolution decides
                    kind = symbols.kind_of(type_name)
            opts = _options(f.options)
            # packed by effect: proto3 packs repeated scalars unless told not to.
            packed = opts.pop("packed", None)
            if packed is None:
                packed = syntax == "proto3" and f.label == F.LABEL_REPEATED and kind in _SCALAR_NUMERIC
            table[("field", f"{full} #{f.number}")] = {
                "name": f.name,
                "type": F.Type.Name(kind) if kind else "unset",
                "type name": type_name,
                "label": F.Label.Name(f.label),
                "default": _default(f),
                "oneof": m.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None,
                "proto3 optional": f.proto3_optional,
                "packed": packed,
                "options": opts,
            }
        for e in m.enum_type:
            enum(e, full)
        for n in m.nested_type:
            message(n, full)

    for e in fd.enum_type:
        enum(e, fd.package)
    for m in fd.message_type:
        message(m, fd.package)
    return table


def counts(table):
    """How many elements of each kind a flattened table holds."""
    out = dict.fromkeys(KINDS, 0)
    for kind, _ in table:
        out[kind] += 1
    return out


def diff(ours, theirs, our_side="ours", their_side="Apache"):
    """Every difference between two flattened tables, as sorted readable lines."""
    lines = []
    for key in sorted(set(ours) | set(theirs)):
        kind, name = key
        if key not in ours:
            lines.append(f"{kind} {name}: missing ({their_side} has {_brief(theirs[key])})")
        elif key not in theirs:
            lines.append(f"{kind} {name}: not in {their_side} ({our_side} has {_brief(ours[key])})")
        else:
            a, b = ours[key], theirs[key]
            for fact in sorted(set(a) | set(b)):
                if a.get(fact) != b.get(fact):
                    lines.append(
                        f"{kind} {name}: {fact}: {our_side} {a.get(fact)!r}, "
                        f"{their_side} {b.get(fact)!r}"
                    )
    return lines


def _brief(facts):
    for fact in ("name", "number", "package"):
        if fact in facts:
            return f"{fact} {facts[fact]!r}"
    return "it"
