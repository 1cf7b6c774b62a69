"""Our compiled protos against the schemas Apache Mesos 1.11 compiled into its own artefacts.

Ours: the FileDescriptorSet mesos-proto was built from, written by its
`dump_descriptors` example. Apache's: the FileDescriptorProtos embedded in libmesos
1.11 (`_scheduler.so`) and in `mesos.interface`'s `mesos_pb2.py` (see
lib/mesos_oracle.py). Every message, nested message, field, enum and enum value of
every file we ship must match, fact for fact (lib/descriptor_diff.py lists the
facts); `tools/gen_protos.py`'s SHIPPED says which Apache file each of ours is.
"""

import copy
import subprocess

import pytest
from google.protobuf import descriptor_pb2

import descriptor_diff as dd
import mesos_oracle
from gen_protos import SHIPPED

F = descriptor_pb2.FieldDescriptorProto


@pytest.fixture(scope="module")
def compiled_files(binary):
    """Every file in mesos-proto's descriptor set: ours and protobuf's own imports."""
    dump = subprocess.run([binary("dump_descriptors", example=True)], check=True, capture_output=True)
    fds = descriptor_pb2.FileDescriptorSet.FromString(dump.stdout)
    return {fd.name: fd for fd in fds.file}


@pytest.fixture(scope="module")
def our_files(compiled_files):
    """The files we ship (the compiler adds google/protobuf/*.proto we import)."""
    return {n: fd for n, fd in compiled_files.items() if not n.startswith("google/protobuf/")}


@pytest.fixture(scope="module")
def apache_files():
    return mesos_oracle.libmesos_files()


def _table(files, names, rename_import=lambda p: p, file_name=lambda n: n):
    symbols = dd.Symbols(files.values())
    table = {}
    for name in names:
        table.update(dd.flatten(files[name], symbols, rename_import, file_name(name)))
    return table


def _report(summary, title, table):
    c = dd.counts(table)
    line = (
        f"{title}: {c['file']} files, {c['message']} messages, {c['field']} fields, "
        f"{c['enum']} enums, {c['enum value']} enum values compared, 0 differences"
    )
    print(line)
    summary(line)


def test_we_ship_exactly_the_mapped_files(our_files, apache_files):
    assert sorted(our_files) == sorted(SHIPPED.values())
    assert not [a for a in SHIPPED if a not in apache_files], "SHIPPED names a file libmesos lacks"


def test_every_shipped_file_matches_libmesos(compiled_files, our_files, apache_files, summary):
    ours = _table(compiled_files, sorted(our_files))
    theirs = _table(
        apache_files,
        sorted(SHIPPED),
        rename_import=lambda p: SHIPPED.get(p, p),
        file_name=lambda n: SHIPPED[n],
    )
    differences = dd.diff(ours, theirs, "ours", "libmesos 1.11")
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences)
    _report(summary, "schema vs libmesos 1.11 (_scheduler.so)", theirs)
    internal = apache_files["messages/messages.proto"]
    summary(
        f"  of which mesos.internal (messages/messages.proto): "
        f"{len(internal.message_type)} top-level messages; "
        f"{len(apache_files) - len(SHIPPED)} libmesos files not shipped by us"
    )


def test_v0_mesos_proto_matches_mesos_interface(our_files, summary):
    pb2 = mesos_oracle.interface_mesos_proto()
    theirs = _table({pb2.name: pb2}, [pb2.name], file_name=lambda n: "mesos/mesos.proto")
    # mesos_pb2.py was generated from mesos.proto while it sat at the top of its
    # include path, hence its name; the package and every type are the same.
    assert dd.counts(theirs)["message"] == 175
    ours = _table(our_files, ["mesos/mesos.proto"])
    differences = dd.diff(ours, theirs, "ours", "mesos_pb2.py 1.11")
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences)
    _report(summary, "schema vs mesos.interface 1.11 (mesos_pb2.py)", theirs)


# The diff must be able to fail: alter one fact of a real file and expect it named.
def _message(fd, path):
    """A (nested) DescriptorProto by its dotted name inside the file's package."""
    parts = path.split(".")
    msg = next(m for m in fd.message_type if m.name == parts[0])
    for part in parts[1:]:
        msg = next(m for m in msg.nested_type if m.name == part)
    return msg


def _field(fd, path, name):
    return next(f for f in _message(fd, path).field if f.name == name)


def _enum(fd, path, name):
    scope = _message(fd, path).enum_type if path else fd.enum_type
    return next(e for e in scope if e.name == name)


def _enum_value(fd, enum, name):
    return next(v for v in _enum(fd, "", enum).value if v.name == name)


def _into_new_oneof(fd, path, name):
    message = _message(fd, path)
    message.oneof_decl.add(name="moved")
    _field(fd, path, name).oneof_index = len(message.oneof_decl) - 1


MUTATIONS = {
    "field number": (
        lambda fd: setattr(_field(fd, "TaskInfo", "name"), "number", 99),
        "field mesos.TaskInfo #99: not in",
    ),
    "field name": (
        lambda fd: setattr(_field(fd, "TaskInfo", "name"), "name", "title"),
        "field mesos.TaskInfo #1: name: ours 'title'",
    ),
    "field type": (
        lambda fd: setattr(_field(fd, "Value.Scalar", "value"), "type", F.TYPE_FLOAT),
        "field mesos.Value.Scalar #1: type",
    ),
    "field label": (
        lambda fd: setattr(_field(fd, "FrameworkInfo", "user"), "label", F.LABEL_OPTIONAL),
        "field mesos.FrameworkInfo #1: label",
    ),
    "type name": (
        lambda fd: setattr(_field(fd, "TaskInfo", "task_id"), "type_name", ".mesos.SlaveID"),
        "field mesos.TaskInfo #2: type name",
    ),
    "default value": (
        lambda fd: setattr(_field(fd, "FrameworkInfo", "failover_timeout"), "default_value", "1"),
        "field mesos.FrameworkInfo #4: default",
    ),
    "default added": (
        lambda fd: setattr(_field(fd, "TaskInfo", "name"), "default_value", "x"),
        "field mesos.TaskInfo #1: default",
    ),
    "deprecated": (
        lambda fd: setattr(_field(fd, "TaskInfo", "name").options, "deprecated", True),
        "field mesos.TaskInfo #1: options",
    ),
    "packed": (
        lambda fd: setattr(_field(fd, "Value.Ranges", "range").options, "packed", True),
        "field mesos.Value.Ranges #1: packed",
    ),
    "oneof": (
        lambda fd: _into_new_oneof(fd, "TaskInfo", "name"),
        "field mesos.TaskInfo #1: oneof",
    ),
    "nested message removed": (
        lambda fd: _message(fd, "Value").nested_type.remove(_message(fd, "Value.Ranges")),
        "message mesos.Value.Ranges: missing",
    ),
    "enum value number": (
        lambda fd: setattr(_enum_value(fd, "TaskState", "TASK_RUNNING"), "number", 77),
        "enum value mesos.TaskState.TASK_RUNNING: number",
    ),
    "enum value removed": (
        lambda fd: _enum(fd, "", "TaskState").value.remove(
            _enum_value(fd, "TaskState", "TASK_UNKNOWN")
        ),
        "enum value mesos.TaskState.TASK_UNKNOWN: missing",
    ),
    "nested enum renamed": (
        lambda fd: setattr(_enum(fd, "Value", "Type"), "name", "Kind"),
        "enum mesos.Value.Type: missing",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_changed_descriptor_is_reported(our_files, mutation):
    change, expected = MUTATIONS[mutation]
    original = our_files["mesos/mesos.proto"]
    altered = copy.deepcopy(original)
    change(altered)
    assert altered != original
    reference = _table({original.name: original}, [original.name])
    assert dd.diff(reference, reference) == []
    changed = _table({altered.name: altered}, [altered.name])
    differences = dd.diff(changed, reference)
    assert any(expected in line for line in differences), differences


def test_relative_type_names_resolve_like_protoc(our_files):
    """A type name written relative to its scope compares equal to the full one."""
    original = our_files["mesos/mesos.proto"]
    relative = copy.deepcopy(original)
    _field(relative, "TaskInfo", "task_id").type_name = "TaskID"
    _field(relative, "Value", "ranges").type_name = "Ranges"  # mesos.Value.Ranges
    _field(relative, "Value", "type").ClearField("type")  # left for resolution
    _field(relative, "Value", "type").type_name = "Value.Type"
    a = _table({original.name: original}, [original.name])
    b = _table({relative.name: relative}, [relative.name])
    assert dd.diff(b, a) == []
