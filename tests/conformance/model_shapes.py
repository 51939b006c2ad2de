"""Validation of the simulator's raw answers against the botocore service models, shared
by test_model_shapes.py (the audit) and conftest.py (every boto3 client of the suite checks
every answer it gets). See test_model_shapes.py for what is checked and why.
"""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Errors any operation may answer (AWS's "Common Errors" for the protocol), which the
# models do not list per operation. Statuses are not checked for these.
COMMON_ERRORS = {
    "rest-json": {
        "AccessDeniedException",
        "ExpiredTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "ServiceUnavailableException",
        "ThrottlingException",
        "UnrecognizedClientException",
    },
    "query": {
        "AccessDenied",
        "ExpiredToken",
        "IncompleteSignature",
        "InternalFailure",
        "InvalidAction",
        "InvalidClientTokenId",
        "InvalidParameterValue",
        "MissingAuthenticationToken",
        "MissingParameter",
        "ServiceUnavailable",
        "SignatureDoesNotMatch",
        "Throttling",
        "ValidationError",
    },
}

# Errors AWS answers although the model does not declare them for the operation, each
# with the reason it is known. botocore raises ClientError with the code all the same.
UNDECLARED_BUT_AWS = {
    # eks-auth-facts.md (public bug reports): ListAssociatedAccessPolicies on an EC2_LINUX
    # entry → 400 InvalidParameterException 'This operation can only be performed on Access
    # Entries with a type of "STANDARD".' The model lists no InvalidParameterException here.
    ("eks", "ListAssociatedAccessPolicies", "InvalidParameterException"): 400,
    # terraform-aws-modules/terraform-aws-eks#793: creating a node group on a cluster that
    # does not exist → ResourceNotFoundException "No cluster found for name: …"; the model
    # lists no ResourceNotFoundException for CreateNodegroup.
    ("eks", "CreateNodegroup", "ResourceNotFoundException"): 404,
    # Not confirmed, a choice: the model declares only ServerException for
    # ListAccessPolicies, yet a maxResults outside 1..100 must be refused with some client
    # error. EKS has no ValidationException shape; InvalidParameterException is what every
    # other EKS list operation declares for it, so the simulator answers that.
    ("eks", "ListAccessPolicies", "InvalidParameterException"): 400,
}

ARN_RE = re.compile(r"^arn:(aws|aws-cn|aws-us-gov):[a-z0-9-]+:[a-z0-9-]*:(\d{12}|aws)?:\S+$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
# 2001-09-09 .. 2100-01-01 in seconds: a milliseconds value falls outside.
EPOCH_MIN, EPOCH_MAX = 1_000_000_000, 4_102_444_800


def implemented_operations():
    """The operations the simulator serves, read from the list its wire is generated from
    (crates/sim-codegen)."""
    spec = (ROOT / "crates" / "sim-codegen" / "src" / "lib.rs").read_text()
    ops = set()
    for svc in ("eks", "sts", "iam"):
        block = re.search(rf'module: "{svc}",.*?operations: &\[(.*?)\]', spec, re.S).group(1)
        ops |= {(svc, o) for o in re.findall(r'"(\w+)"', block)}
    return ops


# ---------------------------------------------------------------------------------------
# Shape walkers. Each appends "path: problem" strings to `out`.


def _scalar_checks(shape, value, path, out, member_name):
    if shape.type_name == "string":
        enum = shape.enum
        if enum and value not in enum:
            out.append(f"{path}: {value!r} is not one of the model's enum values {enum}")
        meta = shape.metadata
        if "min" in meta and len(value) < meta["min"]:
            out.append(f"{path}: length {len(value)} < min {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            out.append(f"{path}: length {len(value)} > max {meta['max']}")
        if "pattern" in meta:
            try:
                if not re.fullmatch(meta["pattern"], value):
                    out.append(f"{path}: {value!r} does not match pattern {meta['pattern']!r}")
            except re.error:
                pass
        looks_arn = (
            member_name in ("arn", "Arn")
            or member_name.endswith(("Arn", "ARN"))
            or shape.name.lower() in ("arntype", "arn")
        )
        if looks_arn and not ARN_RE.match(value):
            out.append(f"{path}: {value!r} is not a well-formed ARN")


def check_json(shape, value, path, out, member_name=""):
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            out.append(f"{path}: expected object, got {type(value).__name__}")
            return
        if shape.metadata.get("document"):
            return
        by_wire = {}
        for name, m in shape.members.items():
            if m.serialization.get("location") in ("header", "headers", "statusCode", "uri", "querystring"):
                continue
            by_wire[m.serialization.get("name", name)] = (name, m)
        for k, v in value.items():
            if k not in by_wire:
                out.append(f"{path}: stray member {k!r} (not in {shape.name})")
                continue
            if v is None:
                out.append(f"{path}.{k}: null (AWS omits absent members)")
                continue
            name, m = by_wire[k]
            check_json(m, v, f"{path}.{k}", out, name)
        for req in shape.required_members:
            wire = shape.members[req].serialization.get("name", req)
            if wire not in value:
                out.append(f"{path}: required member {req!r} missing")
    elif t == "list":
        if not isinstance(value, list):
            out.append(f"{path}: expected list, got {type(value).__name__}")
            return
        for i, v in enumerate(value):
            check_json(shape.member, v, f"{path}[{i}]", out, member_name)
        meta = shape.metadata
        if "min" in meta and len(value) < meta["min"]:
            out.append(f"{path}: {len(value)} items < min {meta['min']}")
    elif t == "map":
        if not isinstance(value, dict):
            out.append(f"{path}: expected map, got {type(value).__name__}")
            return
        for k, v in value.items():
            check_json(shape.key, k, f"{path}<key {k}>", out)
            check_json(shape.value, v, f"{path}[{k!r}]", out)
    elif t == "string":
        if shape.serialization.get("jsonvalue"):
            return
        if not isinstance(value, str):
            out.append(f"{path}: expected string, got {type(value).__name__} {value!r}")
            return
        _scalar_checks(shape, value, path, out, member_name)
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{path}: expected integer, got {type(value).__name__} {value!r}")
        else:
            meta = shape.metadata
            if "min" in meta and value < meta["min"]:
                out.append(f"{path}: {value} < min {meta['min']}")
            if "max" in meta and value > meta["max"]:
                out.append(f"{path}: {value} > max {meta['max']}")
    elif t in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{path}: expected number, got {type(value).__name__}")
    elif t == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: expected boolean, got {type(value).__name__} {value!r}")
    elif t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
        if fmt == "unixTimestamp":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                out.append(f"{path}: expected epoch seconds, got {value!r}")
            elif not EPOCH_MIN <= value <= EPOCH_MAX:
                out.append(f"{path}: {value} is not a plausible epoch-seconds timestamp")
        elif not (isinstance(value, str) and ISO_RE.match(value)):
            out.append(f"{path}: expected {fmt} timestamp, got {value!r}")
    elif t == "blob":
        if not isinstance(value, str):
            out.append(f"{path}: expected base64 string")
    else:
        out.append(f"{path}: unhandled shape type {t}")


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def check_xml(shape, el, path, out, member_name=""):
    t = shape.type_name
    children = list(el)
    if t == "structure":
        by_wire = {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()}
        seen = set()
        for c in children:
            k = _local(c.tag)
            if k not in by_wire:
                out.append(f"{path}: stray element <{k}> (not in {shape.name})")
                continue
            if k in seen and not by_wire[k][1].serialization.get("flattened"):
                out.append(f"{path}: element <{k}> repeated")
            seen.add(k)
            name, m = by_wire[k]
            check_xml(m, c, f"{path}.{k}", out, name)
        for req in shape.required_members:
            if shape.members[req].serialization.get("name", req) not in seen:
                out.append(f"{path}: required member {req!r} missing")
        if (el.text or "").strip():
            out.append(f"{path}: structure has text {el.text.strip()!r}")
        return
    if children and t not in ("list", "map"):
        out.append(f"{path}: scalar {t} has child elements")
        return
    text = el.text or ""
    if t == "list":
        item = shape.member.serialization.get("name", "member")
        for i, c in enumerate(children):
            if _local(c.tag) != item:
                out.append(f"{path}: list item <{_local(c.tag)}>, expected <{item}>")
            check_xml(shape.member, c, f"{path}[{i}]", out, member_name)
    elif t == "map":
        for i, c in enumerate(children):
            if _local(c.tag) != "entry":
                out.append(f"{path}: map item <{_local(c.tag)}>, expected <entry>")
                continue
            kv = {_local(x.tag): x for x in c}
            if set(kv) != {"key", "value"}:
                out.append(f"{path}[{i}]: map entry has {sorted(kv)}")
                continue
            check_xml(shape.key, kv["key"], f"{path}<key>", out)
            check_xml(shape.value, kv["value"], f"{path}[{kv['key'].text!r}]", out)
    elif t == "string":
        _scalar_checks(shape, text, path, out, member_name)
    elif t in ("integer", "long"):
        if not re.fullmatch(r"-?\d+", text):
            out.append(f"{path}: expected integer, got {text!r}")
        else:
            meta = shape.metadata
            if "min" in meta and int(text) < meta["min"]:
                out.append(f"{path}: {text} < min {meta['min']}")
            if "max" in meta and int(text) > meta["max"]:
                out.append(f"{path}: {text} > max {meta['max']}")
    elif t == "boolean":
        if text not in ("true", "false"):
            out.append(f"{path}: expected true/false, got {text!r}")
    elif t == "timestamp":
        if not ISO_RE.match(text):
            out.append(f"{path}: expected ISO 8601 timestamp, got {text!r}")
    else:
        out.append(f"{path}: unhandled shape type {t}")



# ---------------------------------------------------------------------------------------
# One answer.


def validate_answer(rec, http, op):
    """Checks one captured answer; appends to rec.problems, records rec.ok_ops / rec.err_ops."""
    service = op.service_model.endpoint_prefix
    protocol = op.service_model.protocol
    where = f"{service}:{op.name}"
    rid = http.headers.get("x-amzn-requestid")
    if not rid:
        rec.problems.append(f"{where}: no x-amzn-RequestId header")
    if http.status_code < 300:
        rec.ok_ops.add((service, op.name))
        out = []
        if protocol == "rest-json":
            ctype = http.headers.get("content-type", "")
            if not ctype.startswith("application/json"):
                out.append(f"content-type {ctype!r}")
            body = json.loads(http.content or b"{}")
            if op.output_shape is not None:
                check_json(op.output_shape, body, op.name, out)
            elif body != {}:
                out.append(f"no output shape, body {body!r}")
        else:
            root = ET.fromstring(http.content)
            if _local(root.tag) != f"{op.name}Response":
                out.append(f"root <{_local(root.tag)}>")
            ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
            want_ns = f"https://{service}.amazonaws.com/doc/{op.service_model.api_version}/"
            if ns != want_ns:
                out.append(f"xmlns {ns!r}, expected {want_ns!r}")
            kids = {_local(c.tag): c for c in root}
            wrapper = op.output_shape.serialization.get("resultWrapper") if op.output_shape else None
            expect = {"ResponseMetadata"} | ({wrapper} if wrapper else set())
            if set(kids) != expect:
                out.append(f"response children {sorted(kids)}, expected {sorted(expect)}")
            meta = kids.get("ResponseMetadata")
            if meta is None or [(_local(c.tag), c.text) for c in meta] != [("RequestId", rid)]:
                out.append("ResponseMetadata must hold exactly the RequestId of the header")
            if wrapper and wrapper in kids:
                check_xml(op.output_shape, kids[wrapper], op.name, out)
        rec.problems += [f"{where}: {p}" for p in out]
    else:
        _validate_error(rec, http, op, service, protocol, where)

def _validate_error(rec, http, op, service, protocol, where):
    declared = {}
    for e in op.error_shapes:
        meta = e.metadata.get("error", {})
        declared[meta.get("code", e.name)] = (e, meta)
    out = []
    if protocol == "rest-json":
        body = json.loads(http.content or b"{}")
        header = http.headers.get("x-amzn-errortype")
        if header is None:
            out.append("no x-amzn-ErrorType header")
            return
        if not re.fullmatch(r"[A-Za-z]+(:\S+)?", header):
            out.append(f"x-amzn-ErrorType {header!r} is not 'Code' or 'Code:URI'")
        code = header.split(":", 1)[0]
        if "__type" in body and body["__type"].rsplit("#", 1)[-1] != code:
            out.append(f"__type {body['__type']!r} disagrees with header {code!r}")
        if not isinstance(body.get("message"), str) or not body["message"]:
            out.append(f"{code}: no message in body {body!r}")
        if code in declared:
            shape, meta = declared[code]
            check_json(shape, {k: v for k, v in body.items() if k != "__type"}, code, out)
        sender = None
    else:
        root = ET.fromstring(http.content)
        if _local(root.tag) != "ErrorResponse":
            out.append(f"error root <{_local(root.tag)}>")
        kids = {_local(c.tag): c for c in root}
        if set(kids) != {"Error", "RequestId"}:
            out.append(f"ErrorResponse children {sorted(kids)}")
        if kids.get("RequestId") is not None and kids["RequestId"].text != http.headers.get("x-amzn-requestid"):
            out.append("RequestId differs from the x-amzn-RequestId header")
        err = {_local(c.tag): (c.text or "") for c in kids.get("Error", [])}
        if set(err) - {"Type", "Code", "Message"} or not {"Type", "Code"} <= set(err):
            out.append(f"Error members {sorted(err)}")
        code = err.get("Code", "")
        sender = err.get("Type")
        if sender not in ("Sender", "Receiver"):
            out.append(f"Error Type {sender!r}")
    if code in declared:
        shape, meta = declared[code]
        want = meta.get("httpStatusCode")
        if want is not None and want != http.status_code:
            out.append(f"{code}: status {http.status_code}, model says {want}")
        if sender is not None:
            want_sender = "Sender" if meta.get("senderFault") else "Receiver"
            if sender != want_sender:
                out.append(f"{code}: Type {sender}, model says {want_sender}")
    elif (service, op.name, code) in UNDECLARED_BUT_AWS:
        want = UNDECLARED_BUT_AWS[(service, op.name, code)]
        if want != http.status_code:
            out.append(f"{code}: status {http.status_code}, AWS answers {want}")
    elif code not in COMMON_ERRORS[protocol]:
        out.append(f"error {code!r} is not declared for the operation (declared: {sorted(declared)})")
    rec.err_ops.setdefault((service, op.name), set()).add(code)
    rec.problems += [f"{where}: {p}" for p in out]
