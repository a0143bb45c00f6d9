#!/usr/bin/env python3
"""Describes services from a gRPC server-reflection answer and checks them against
the .proto sources, as `grpcurl describe` would show them.

Input (stdin): the JSON answers of grpc.reflection.*.ServerReflection/ServerReflectionInfo
as `buf curl` prints them (one JSON document per answer), for requests of the form
{"file_containing_symbol": "<service>"}.

Checks, for every service named on the command line:
  - reflection returned its file descriptor (and no error answer);
  - the described service has exactly the methods of the .proto source, with the same
    request/response types and streaming flags;
  - every message and enum that those methods use, directly or through fields, is
    described too (the returned files, with their dependencies, are complete).
Prints the description of each service. Exits 1 on any mismatch.

Usage: reflection_describe.py --proto FILE [--proto FILE...] [--methods-out FILE]
                              SERVICE [SERVICE...]
       reflection_describe.py --proto FILE [--proto FILE...] --list-services
The second form prints the services the sources declare, one a line, and exits.
--methods-out writes "package.Service/Method" for each method the sources declare for
the given services, one a line.
The only dependency is the Python standard library (the FileDescriptorProto wire
format is decoded here).
"""

import argparse
import base64
import json
import re
import sys

# --- Protobuf wire format ----------------------------------------------------------


def _varint(buf, i):
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """Yields (field_number, value) for one message; value is int or bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = _varint(buf, i)
        elif wire_type == 2:
            length, i = _varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire_type == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire_type == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        yield number, value


# --- Descriptors (only the fields this check needs) ---------------------------------

# FieldDescriptorProto.type values that refer to another type by type_name.
_TYPE_MESSAGE, _TYPE_ENUM = 11, 14


class Pool:
    def __init__(self):
        self.files = {}        # file name -> package
        self.types = {}        # ".pkg.Msg" -> list of referenced type names
        self.services = {}     # "pkg.Svc" -> [(method, in, out, cstream, sstream)]

    def add_file(self, data):
        name = package = ""
        messages, enums, services = [], [], []
        for number, value in _fields(data):
            if number == 1:
                name = value.decode()
            elif number == 2:
                package = value.decode()
            elif number == 4:
                messages.append(value)
            elif number == 5:
                enums.append(value)
            elif number == 6:
                services.append(value)
        self.files[name] = package
        scope = f".{package}" if package else ""
        for m in messages:
            self._add_message(scope, m)
        for e in enums:
            self._add_enum(scope, e)
        for s in services:
            self._add_service(package, s)

    def _add_message(self, scope, data):
        name, refs, nested, enums = "", [], [], []
        for number, value in _fields(data):
            if number == 1:
                name = value.decode()
            elif number == 2:
                field = dict(_fields(value))
                if field.get(5) in (_TYPE_MESSAGE, _TYPE_ENUM):
                    refs.append(field[6].decode())
            elif number == 3:
                nested.append(value)
            elif number == 4:
                enums.append(value)
        full = f"{scope}.{name}"
        self.types[full] = refs
        for n in nested:
            self._add_message(full, n)
        for e in enums:
            self._add_enum(full, e)

    def _add_enum(self, scope, data):
        self.types[f"{scope}.{dict(_fields(data))[1].decode()}"] = []

    def _add_service(self, package, data):
        name, methods = "", []
        for number, value in _fields(data):
            if number == 1:
                name = value.decode()
            elif number == 2:
                m = dict(_fields(value))
                methods.append((m[1].decode(), m[2].decode(), m[3].decode(),
                                bool(m.get(5, 0)), bool(m.get(6, 0))))
        self.services[f"{package}.{name}" if package else name] = methods

    def missing_types(self, roots):
        """(reachable, missing): the type names reachable from roots, and those of
        them that no returned file describes."""
        missing, seen, todo = set(), set(), list(roots)
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if t not in self.types:
                missing.add(t)
            else:
                todo.extend(self.types[t])
        return seen, missing


# --- .proto sources -----------------------------------------------------------------

_RPC = re.compile(r"rpc\s+(\w+)\s*\(\s*(stream\s+)?([\w.]+)\s*\)\s*returns\s*"
                  r"\(\s*(stream\s+)?([\w.]+)\s*\)")


def source_services(path):
    """Parses services and methods from a .proto file (comments stripped)."""
    text = re.sub(r"//[^\n]*", "", open(path, encoding="utf-8").read())
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    package = re.search(r"\bpackage\s+([\w.]+)\s*;", text)
    package = package.group(1) if package else ""
    services = {}
    for s in re.finditer(r"\bservice\s+(\w+)\s*\{", text):
        depth, i = 1, s.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        methods = []
        for m in _RPC.finditer(text[s.end():i]):
            methods.append((m.group(1), _qualify(package, m.group(3)),
                            _qualify(package, m.group(5)),
                            bool(m.group(2)), bool(m.group(4))))
        services[f"{package}.{s.group(1)}"] = methods
    return services


def _qualify(package, type_name):
    # Our sources name types either fully (with a dot) or within their own package.
    if type_name.startswith("."):
        return type_name
    return f".{type_name}" if "." in type_name else f".{package}.{type_name}"


# --- Main ---------------------------------------------------------------------------


def read_answers(text):
    decoder, i, answers = json.JSONDecoder(), 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return answers
        answer, i = decoder.raw_decode(text, i)
        answers.append(answer)


def describe(name, methods):
    lines = [f"{name} is a service:", f"service {name.rsplit('.', 1)[-1]} {{"]
    for m, req, resp, cs, ss in methods:
        lines.append(f"  rpc {m} ( {'stream ' if cs else ''}{req} ) returns "
                     f"( {'stream ' if ss else ''}{resp} );")
    lines.append("}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proto", action="append", required=True)
    parser.add_argument("--methods-out")
    parser.add_argument("--list-services", action="store_true")
    parser.add_argument("services", nargs="*")
    args = parser.parse_args()

    expected = {}
    for path in args.proto:
        expected.update(source_services(path))
    if args.list_services:
        print("\n".join(sorted(expected)))
        return 0
    if not args.services:
        parser.error("name at least one service")
    if args.methods_out:
        with open(args.methods_out, "w", encoding="utf-8") as out:
            for service in args.services:
                for method in expected.get(service, []):
                    out.write(f"{service}/{method[0]}\n")
    pool, errors = Pool(), []
    for answer in read_answers(sys.stdin.read()):
        if "errorResponse" in answer:
            errors.append(f"reflection error for {answer.get('originalRequest')}: "
                          f"{answer['errorResponse']}")
            continue
        for b64 in answer.get("fileDescriptorResponse", {}).get("fileDescriptorProto", []):
            pool.add_file(base64.b64decode(b64))

    for service in args.services:
        if service not in expected:
            errors.append(f"{service}: not found in the given .proto sources")
            continue
        if service not in pool.services:
            errors.append(f"{service}: reflection did not describe it")
            continue
        print(describe(service, pool.services[service]))
        got, want = sorted(pool.services[service]), sorted(expected[service])
        if got != want:
            errors.append(f"{service}: reflection describes {got}\n  but the source has {want}")
        roots = {t for m in pool.services[service] for t in (m[1], m[2])}
        reachable, missing = pool.missing_types(roots)
        if missing:
            errors.append(f"{service}: types not described by reflection: {sorted(missing)}")
        else:
            print(f"  ({len(pool.services[service])} methods; all {len(reachable)} message "
                  f"and enum types they use are described)")
    for e in errors:
        print(f"FAIL: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
