#!/usr/bin/env python3
"""Write proto/mesos/**.proto from Apache Mesos 1.11's published descriptors.

Field names, numbers, types, labels, defaults and enum values are facts of the
wire format; the exact way to get them right is to read them from the schemas
Apache compiled into its own published artefacts (see
compat-tests/lib/mesos_oracle.py) and print them as .proto text. The layout,
header and comments of the printed files are ours.

Usage: tools/gen_protos.py [--cache DIR]   (needs the `protobuf` Python package)
The compat-tests schema check diffs the result, compiled, against the oracle.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "compat-tests", "lib"))

import mesos_oracle  # noqa: E402
from google.protobuf import descriptor_pb2 as d  # noqa: E402

# Apache's import path -> ours, under proto/. Public files keep Apache's paths;
# internal ones (src/ in Apache's tree) move under mesos/internal/.
SHIPPED = {
    "mesos/mesos.proto": "mesos/mesos.proto",
    "mesos/scheduler/scheduler.proto": "mesos/scheduler/scheduler.proto",
    "mesos/executor/executor.proto": "mesos/executor/executor.proto",
    "mesos/authentication/authentication.proto": "mesos/authentication/authentication.proto",
    "mesos/authorizer/acls.proto": "mesos/authorizer/acls.proto",
    "mesos/maintenance/maintenance.proto": "mesos/maintenance/maintenance.proto",
    "mesos/quota/quota.proto": "mesos/quota/quota.proto",
    "mesos/allocator/allocator.proto": "mesos/allocator/allocator.proto",
    "mesos/agent/agent.proto": "mesos/agent/agent.proto",
    "mesos/master/master.proto": "mesos/master/master.proto",
    "mesos/fetcher/fetcher.proto": "mesos/fetcher/fetcher.proto",
    "mesos/resource_provider/resource_provider.proto": "mesos/resource_provider/resource_provider.proto",
    "mesos/state/state.proto": "mesos/state/state.proto",
    "mesos/v1/mesos.proto": "mesos/v1/mesos.proto",
    "mesos/v1/scheduler/scheduler.proto": "mesos/v1/scheduler/scheduler.proto",
    "mesos/v1/executor/executor.proto": "mesos/v1/executor/executor.proto",
    "mesos/v1/master/master.proto": "mesos/v1/master/master.proto",
    "mesos/v1/agent/agent.proto": "mesos/v1/agent/agent.proto",
    "mesos/v1/quota/quota.proto": "mesos/v1/quota/quota.proto",
    "mesos/v1/maintenance/maintenance.proto": "mesos/v1/maintenance/maintenance.proto",
    "mesos/v1/allocator/allocator.proto": "mesos/v1/allocator/allocator.proto",
    "mesos/v1/resource_provider/resource_provider.proto": "mesos/v1/resource_provider/resource_provider.proto",
    "messages/messages.proto": "mesos/internal/messages/messages.proto",
    "messages/state.proto": "mesos/internal/messages/state.proto",
    "master/registry.proto": "mesos/internal/master/registry.proto",
    "resource_provider/registry.proto": "mesos/internal/resource_provider/registry.proto",
    "slave/state.proto": "mesos/internal/slave/state.proto",
}

# What each file is for, in our words; printed at the top of the file.
ABOUT = {
    "mesos/mesos.proto": "The v0 public types: IDs, resources, tasks, executors, offers, statuses.",
    "mesos/scheduler/scheduler.proto": "v0 scheduler Call/Event, also carried over libprocess by 1.x drivers.",
    "mesos/executor/executor.proto": "v0 executor Call/Event.",
    "mesos/authentication/authentication.proto": "SASL (CRAM-MD5) authentication handshake messages.",
    "mesos/authorizer/acls.proto": "ACL definitions accepted by the --acls flag.",
    "mesos/maintenance/maintenance.proto": "Maintenance schedules and status (v0).",
    "mesos/quota/quota.proto": "Quota requests and configurations (v0).",
    "mesos/allocator/allocator.proto": "Allocator-visible inverse offer status (v0).",
    "mesos/agent/agent.proto": "The agent operator API (v0 flavour, used internally).",
    "mesos/master/master.proto": "The master operator API (v0 flavour, used internally).",
    "mesos/fetcher/fetcher.proto": "What the agent hands its URI fetcher.",
    "mesos/resource_provider/resource_provider.proto": "Resource provider calls and events (v0).",
    "mesos/state/state.proto": "Entries of the key/value state abstraction (org.apache.mesos.state).",
    "mesos/v1/mesos.proto": "The v1 public types, the shapes of the HTTP APIs.",
    "mesos/v1/scheduler/scheduler.proto": "The v1 scheduler HTTP API: Call and Event.",
    "mesos/v1/executor/executor.proto": "The v1 executor HTTP API: Call and Event.",
    "mesos/v1/master/master.proto": "The v1 master operator API.",
    "mesos/v1/agent/agent.proto": "The v1 agent operator API.",
    "mesos/v1/quota/quota.proto": "Quota (v1).",
    "mesos/v1/maintenance/maintenance.proto": "Maintenance (v1).",
    "mesos/v1/allocator/allocator.proto": "Allocator-visible inverse offer status (v1).",
    "mesos/v1/resource_provider/resource_provider.proto": "Resource provider calls and events (v1).",
    "messages/messages.proto": "mesos.internal: the libprocess messages among drivers, master and agents.",
    "messages/state.proto": "Internal wrapper of state entries.",
    "master/registry.proto": "The master's durable registry.",
    "resource_provider/registry.proto": "Resource provider registry kept by the agent.",
    "slave/state.proto": "Agent checkpoint records.",
}

LABELS = {1: "optional", 2: "required", 3: "repeated"}
SCALARS = {
    d.FieldDescriptorProto.TYPE_DOUBLE: "double",
    d.FieldDescriptorProto.TYPE_FLOAT: "float",
    d.FieldDescriptorProto.TYPE_INT64: "int64",
    d.FieldDescriptorProto.TYPE_UINT64: "uint64",
    d.FieldDescriptorProto.TYPE_INT32: "int32",
    d.FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    d.FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    d.FieldDescriptorProto.TYPE_BOOL: "bool",
    d.FieldDescriptorProto.TYPE_STRING: "string",
    d.FieldDescriptorProto.TYPE_BYTES: "bytes",
    d.FieldDescriptorProto.TYPE_UINT32: "uint32",
    d.FieldDescriptorProto.TYPE_SFIXED32: "sfixed32",
    d.FieldDescriptorProto.TYPE_SFIXED64: "sfixed64",
    d.FieldDescriptorProto.TYPE_SINT32: "sint32",
    d.FieldDescriptorProto.TYPE_SINT64: "sint64",
}


def quote(text):
    out = []
    for ch in text.encode("utf-8") if isinstance(text, str) else text:
        c = chr(ch)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= ch < 0x7F:
            out.append(c)
        else:
            out.append("\\%03o" % ch)
    return '"' + "".join(out) + '"'


class Scope:
    """Names visible while printing, for the shortest correct type reference."""

    def __init__(self, all_names):
        self.all_names = all_names  # every fully qualified type name, no leading dot

    def shortest(self, target, scope):
        target = target.lstrip(".")
        parts = target.split(".")
        # Try suffixes from the shortest; keep one only if protobuf's lookup from
        # `scope` (innermost first) lands on `target`.
        for n in range(1, len(parts) + 1):
            candidate = parts[-n:]
            if self.resolve(candidate, scope) == target:
                return ".".join(candidate)
        return "." + target

    def resolve(self, parts, scope):
        scopes = scope.split(".") if scope else []
        for k in range(len(scopes), -1, -1):
            base = ".".join(scopes[:k])
            first = (base + "." if base else "") + parts[0]
            if self.is_symbol(first):
                return (base + "." if base else "") + ".".join(parts)
        return None

    def is_symbol(self, name):
        # Packages count as symbols too (protobuf resolves through them).
        return name in self.all_names or any(n.startswith(name + ".") for n in self.all_names)


def collect_names(files):
    names = set()

    def walk(prefix, msgs, enums):
        for e in enums:
            names.add(prefix + e.name)
        for m in msgs:
            names.add(prefix + m.name)
            walk(prefix + m.name + ".", m.nested_type, m.enum_type)

    for fd in files:
        walk(fd.package + "." if fd.package else "", fd.message_type, fd.enum_type)
    return names


class Printer:
    def __init__(self, fd, scope):
        self.fd = fd
        self.scope = scope
        self.lines = []
        # `map<K, V>` fields are compiled into a nested `*Entry` message marked
        # map_entry; print the map, not the entry (Mesos JSON writes maps as objects).
        self.map_entries = {}
        pending = [(fd.package, m) for m in fd.message_type]
        while pending:
            scope_name, m = pending.pop()
            name = (scope_name + "." if scope_name else "") + m.name
            if m.options.map_entry:
                self.map_entries["." + name] = m
            pending.extend((name, n) for n in m.nested_type)

    def emit(self, depth=0, text=""):
        self.lines.append(("  " * depth + text) if text else "")

    def options(self, pairs):
        return " [" + ", ".join(pairs) + "]" if pairs else ""

    def field_type(self, f, scope_name):
        entry = self.map_entries.get(f.type_name)
        if entry is not None:
            key, value = sorted(entry.field, key=lambda g: g.number)
            return f"map<{self.field_type(key, scope_name)}, {self.field_type(value, scope_name)}>"
        if f.type in (d.FieldDescriptorProto.TYPE_MESSAGE, d.FieldDescriptorProto.TYPE_ENUM):
            return self.scope.shortest(f.type_name, scope_name)
        return SCALARS[f.type]

    def default(self, f):
        v = f.default_value
        if f.type == d.FieldDescriptorProto.TYPE_STRING:
            return quote(v)
        if f.type == d.FieldDescriptorProto.TYPE_BYTES:
            # Descriptors keep bytes defaults C-escaped already.
            return '"' + v + '"'
        return v

    def field(self, depth, f, scope_name, in_oneof=False):
        opts = []
        if f.HasField("default_value"):
            opts.append("default = " + self.default(f))
        if f.options.HasField("deprecated"):
            opts.append("deprecated = " + ("true" if f.options.deprecated else "false"))
        if f.options.HasField("packed"):
            opts.append("packed = " + ("true" if f.options.packed else "false"))
        label = "" if in_oneof or f.type_name in self.map_entries else LABELS[f.label] + " "
        self.emit(depth, f"{label}{self.field_type(f, scope_name)} {f.name} = {f.number}{self.options(opts)};")

    def enum(self, depth, e):
        self.emit(depth, f"enum {e.name} {{")
        if e.options.HasField("allow_alias"):
            self.emit(depth + 1, f"option allow_alias = {'true' if e.options.allow_alias else 'false'};")
        for v in e.value:
            opts = []
            if v.options.HasField("deprecated"):
                opts.append("deprecated = " + ("true" if v.options.deprecated else "false"))
            self.emit(depth + 1, f"{v.name} = {v.number}{self.options(opts)};")
        for r in e.reserved_range:
            self.emit(depth + 1, f"reserved {self.range(r.start, r.end, inclusive=True)};")
        if e.reserved_name:
            self.emit(depth + 1, "reserved " + ", ".join(quote(n) for n in e.reserved_name) + ";")
        self.emit(depth, "}")

    @staticmethod
    def range(start, end, inclusive=False):
        last = end if inclusive else end - 1
        if last >= 536870911:
            return f"{start} to max"
        return str(start) if start == last else f"{start} to {last}"

    def message(self, depth, m, scope_name):
        name = (scope_name + "." if scope_name else "") + m.name
        self.emit(depth, f"message {m.name} {{")
        body = depth + 1
        if m.options.HasField("deprecated"):
            self.emit(body, f"option deprecated = {'true' if m.options.deprecated else 'false'};")
        for e in m.enum_type:
            self.enum(body, e)
            self.emit()
        for n in m.nested_type:
            if n.options.map_entry:
                continue
            self.message(body, n, name)
            self.emit()
        printed_oneofs = set()
        for f in m.field:
            if f.HasField("oneof_index") and not f.proto3_optional:
                idx = f.oneof_index
                if idx in printed_oneofs:
                    continue
                printed_oneofs.add(idx)
                self.emit(body, f"oneof {m.oneof_decl[idx].name} {{")
                for g in m.field:
                    if g.HasField("oneof_index") and g.oneof_index == idx:
                        self.field(body + 1, g, name, in_oneof=True)
                self.emit(body, "}")
                continue
            self.field(body, f, name)
        for r in m.extension_range:
            self.emit(body, f"extensions {self.range(r.start, r.end)};")
        for r in m.reserved_range:
            self.emit(body, f"reserved {self.range(r.start, r.end)};")
        if m.reserved_name:
            self.emit(body, "reserved " + ", ".join(quote(n) for n in m.reserved_name) + ";")
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        self.emit(depth, "}")

    def file(self, about):
        fd = self.fd
        self.emit(0, "// Generated by tools/gen_protos.py from the descriptors Apache Mesos 1.11")
        self.emit(0, "// compiled into its published artefacts; regenerate rather than edit.")
        self.emit(0, "// " + about)
        self.emit()
        self.emit(0, f'syntax = "{fd.syntax or "proto2"}";')
        self.emit()
        if fd.package:
            self.emit(0, f"package {fd.package};")
            self.emit()
        for dep in fd.dependency:
            self.emit(0, f'import "{SHIPPED.get(dep, dep)}";')
        if fd.dependency:
            self.emit()
        o = fd.options
        for key in ("java_package", "java_outer_classname", "go_package"):
            if o.HasField(key):
                self.emit(0, f"option {key} = {quote(getattr(o, key))};")
        if o.HasField("cc_enable_arenas"):
            self.emit(0, f"option cc_enable_arenas = {'true' if o.cc_enable_arenas else 'false'};")
        self.emit()
        for e in fd.enum_type:
            self.enum(0, e)
            self.emit()
        for m in fd.message_type:
            self.message(0, m, fd.package)
            self.emit()
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=mesos_oracle.DEFAULT_CACHE)
    ap.add_argument("--out", default=os.path.join(ROOT, "proto"))
    args = ap.parse_args()
    paths = mesos_oracle.fetch(args.cache)
    files = mesos_oracle.descriptors_in_binary(paths["scheduler"])
    missing = [k for k in SHIPPED if k not in files]
    if missing:
        sys.exit(f"not in the oracle: {missing}")
    scope = Scope(collect_names(files.values()))
    for src, dst in SHIPPED.items():
        text = Printer(files[src], scope).file(ABOUT[src])
        path = os.path.join(args.out, dst)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote proto/{dst}")


if __name__ == "__main__":
    main()
