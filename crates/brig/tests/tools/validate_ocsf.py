#!/usr/bin/env python3
"""Validates brig's OCSF export with an independent OCSF library (PyPI `ocsf-emitter`, OCSF 1.5.0).

Usage: validate_ocsf.py FILE.jsonl
Each line is parsed into the library's model for its class_uid (schema validation) and then
checked by its `validate()` (class/category identity, type_uid, names, schema version).
Prints "N events valid" and exits 0, or the first invalid line and exits 1; exits 3 when the
library is not installed.
"""
import json
import sys

try:
    from ocsf_emitter import _models, defaults
    from ocsf_emitter.validate import validate
except ImportError as e:  # pragma: no cover
    print(f"ocsf-emitter is not installed: {e}", file=sys.stderr)
    sys.exit(3)

count = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for lineno, line in enumerate(f, 1):
        event = json.loads(line)
        spec = defaults.class_spec_by_uid(event["class_uid"])
        if spec is None:
            print(f"line {lineno}: unsupported class_uid {event['class_uid']}")
            sys.exit(1)
        model = getattr(_models, spec.model_name)
        try:
            validate(model.model_validate(event))
        except Exception as e:  # the library raises pydantic and its own errors
            print(f"line {lineno}: invalid {spec.class_name} event: {e}\n{line}")
            sys.exit(1)
        count += 1
print(f"{count} events valid")
