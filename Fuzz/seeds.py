#!/usr/bin/env python3
"""Writes the seed corpora Fuzz/Corpus/<target>/ from the project's real documents: Examples/, the DSL test
fixtures, the strings of the parsers' own tests. Run from the repository root when those change; each seed is named
by the SHA-1 of its content (as libFuzzer names what it adds), so running it again only adds new seeds."""
import hashlib, json, os, re, glob

import yaml  # python3-yaml (Debian), used only to turn YAML examples into JSON seeds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")


def write(target, text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    if not data or len(data) > 65536:
        return
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def swift_strings(path):
    """The string literals of a Swift file: raw `#"..."#` ones as written, plain ones with \\" and \\\\ unescaped."""
    text = read(path)
    found = re.findall(r'#"(.*?)"#', text)
    for literal in re.findall(r'(?<![#\\])"((?:[^"\\\n]|\\.)*)"', re.sub(r'#".*?"#', "", text)):
        if "\\(" in literal:
            continue
        found.append(literal.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\"))
    return found


# The DSL reader: every example and fixture, as written and (when it parses as YAML) as JSON.
per_kind = {"event": "event", "template": "template"}
for path in sorted(glob.glob(os.path.join(ROOT, "Examples", "*.yaml")) + glob.glob(os.path.join(ROOT, "Tests", "VampDSLTests", "Fixtures", "**", "*.yaml"), recursive=True)):
    relative = os.path.relpath(path, ROOT)
    if "docker-compose" in relative or "event-query" in relative:
        continue  # other readers (DockerCompose, EventQuery), not the artifact reader
    text = read(relative)
    kind = next((k for d, k in per_kind.items() if f"/kinds/{d}/" in relative), None)
    if kind is None and "fidelity" in relative and not re.search(r"^kind:", text, re.M):
        kind = "blueprint"
    if kind and not re.search(r"^kind:", text, re.M):
        text = f"# kind: {kind}\n" + text
    write("fuzz-dsl-reader", text)
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
        if documents:
            write("fuzz-dsl-reader", json.dumps(documents[0] if len(documents) == 1 else documents, default=str))
    except yaml.YAMLError:
        pass

# Conditions: the grammar tests' strings, the conditions of the examples and fixtures.
for literal in swift_strings("Tests/VampModelTests/ConditionParserTests.swift"):
    write("fuzz-condition", literal)
for path in glob.glob(os.path.join(ROOT, "Examples", "*.yaml")) + glob.glob(os.path.join(ROOT, "Tests", "VampDSLTests", "Fixtures", "**", "*.yaml"), recursive=True):
    for match in re.findall(r"condition:\s*(.+)", read(os.path.relpath(path, ROOT))):
        write("fuzz-condition", match.strip().strip("'\""))

# Value references: every test string with a `$`, and the values of the examples and fixtures that have one.
for path in glob.glob(os.path.join(ROOT, "Tests", "Vamp*Tests", "*.swift")):
    for literal in swift_strings(os.path.relpath(path, ROOT)):
        if "$" in literal and len(literal) < 300:
            write("fuzz-value-reference", literal)
for path in glob.glob(os.path.join(ROOT, "Examples", "*.yaml")) + glob.glob(os.path.join(ROOT, "Tests", "VampDSLTests", "Fixtures", "**", "*.yaml"), recursive=True):
    for line in read(os.path.relpath(path, ROOT)).splitlines():
        if "$" in line and ":" in line:
            write("fuzz-value-reference", line.split(":", 1)[1].strip().strip("'\""))

# HAProxy log lines: the lines of the Pulse and agent tests (real HAProxy's format), and the two line kinds.
for path in ["Tests/VampPulseTests/LogRecordTests.swift"] + glob.glob(os.path.join(ROOT, "Tests", "GatewayAgentTests", "*.swift")):
    if not os.path.exists(os.path.join(ROOT, path)) and not os.path.isabs(path):
        continue
    for literal in swift_strings(os.path.relpath(path, ROOT) if os.path.isabs(path) else path):
        if literal.lstrip().startswith("{") and '"ft"' in literal:
            write("fuzz-log-record", literal)

# /websocket frames: the API tests' frames, the same requests in YAML, and a list of two.
frames = [s for s in swift_strings("Tests/VampAPITests/WebSocketAPITests.swift") if s.startswith("{") or s.startswith("[")]
for frame in frames:
    write("fuzz-websocket-message", frame)
    try:
        value = json.loads(frame)
        write("fuzz-websocket-message", yaml.safe_dump(value, default_flow_style=False))
    except ValueError:
        pass
write("fuzz-websocket-message", "api: v1\npath: /breeds\naction: put\ncontent: yaml\ntransaction: 2\ndata: |\n  name: sava:1.0\n  deployable: magneticio/sava:1.0.0\n  ports:\n    web: 8080/http\n")
write("fuzz-websocket-message", '{"api":"v1","path":"/events/stream","action":"PEEK","transaction":"events","parameters":{"tag":["ws:test"]}}')
