#!/usr/bin/env python3
"""End-to-end test of `brig mcp` with the official MCP Python SDK (PyPI `mcp`) as the client.

Usage: mcp_client.py BRIG HOME

Run in the workspace (the server's cwd) with the environment brig should see (HOME,
XDG_STATE_HOME, PATH). The workspace must hold `.git/hooks/` and `build/`, `build2/` (each
with a file). Prints one `ok: ...` line per check and exits 0; exits 3 when the `mcp` package
is missing (the Rust test turns that into a skip, or a failure under BRIG_TEST_REQUIRE); any
other failure is an assertion with the server's answer.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

try:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
except ImportError as e:  # pragma: no cover
    print(f"the Python MCP SDK is missing ({e}): pip install mcp", file=sys.stderr)
    sys.exit(3)

BRIG = sys.argv[1]
HOME = sys.argv[2]
WS = os.getcwd()


def ok(what):
    print(f"ok: {what}", flush=True)


def text(result):
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def brig(*args):
    return subprocess.run([BRIG, *args], capture_output=True, text=True, timeout=30)


def pending():
    """The approval requests waiting now (`brig approvals list --json`)."""
    out = brig("approvals", "list", "--json")
    assert out.returncode == 0, out
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


async def wait_for_request(command, within=60):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for req in pending():
            if command in req["command"]:
                return req
        await asyncio.sleep(0.1)
    raise AssertionError(f"no approval request for {command!r} within {within}s")


async def call(session, name, args, timeout=90):
    return await session.call_tool(name, args, read_timeout_seconds=timeout)


async def expect_protocol_error(session, name, args, needle):
    try:
        result = await call(session, name, args)
    except Exception as e:  # the SDK raises MCPError for a JSON-RPC error
        assert needle in str(e), f"{name} {args}: error {e!r} does not say {needle!r}"
        return str(e)
    raise AssertionError(f"{name} {args}: expected a JSON-RPC error, got {result}")


async def main():
    params = StdioServerParameters(command=BRIG, args=["mcp"], env=dict(os.environ), cwd=WS)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.server_info.name == "brig", init
            ok(f"initialize: {init.server_info.name} {init.server_info.version}, protocol {init.protocol_version}")

            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert sorted(tools) == ["apply_patch", "policy", "read_file", "run", "write_file"], tools
            for t in tools.values():
                assert t.description and t.input_schema["type"] == "object", t
            assert "argv" in tools["run"].input_schema["properties"], tools["run"]
            ok("tools/list: " + ", ".join(sorted(tools)))

            r = await call(session, "run", {"argv": ["echo", "hi"]})
            assert not r.is_error and r.structured_content["stdout"] == "hi\n", r
            assert r.structured_content["exit_status"] == 0, r
            ok("run argv: echo hi")

            r = await call(session, "run", {"shell": "echo out; echo err >&2; exit 3", "timeout_secs": 30})
            s = r.structured_content
            assert r.is_error and s["exit_status"] == 3 and s["stdout"] == "out\n" and s["stderr"] == "err\n", r
            ok("run shell: exit status, stdout and stderr apart")

            r = await call(session, "write_file", {"path": "notes/hello.txt", "content": "hello\n"})
            assert not r.is_error, r
            assert open(os.path.join(WS, "notes/hello.txt")).read() == "hello\n"
            r = await call(session, "read_file", {"path": "notes/hello.txt"})
            assert not r.is_error and text(r) == "hello\n", r
            r = await call(session, "read_file", {"path": "notes/hello.txt", "max_bytes": 3})
            assert r.structured_content["stdout"] == "hel" and r.structured_content["stdout_truncated"], r
            ok("write_file then read_file (and a bounded read)")

            bashrc = os.path.join(HOME, ".bashrc")
            before = open(bashrc).read()
            r = await call(session, "write_file", {"path": bashrc, "content": "pwned\n"})
            assert r.is_error and "outside the workspace" in text(r), r
            r = await call(session, "write_file", {"path": "../../home/.bashrc", "content": "pwned\n"})
            assert r.is_error and "climbs out of the workspace" in text(r), r
            r = await call(session, "run", {"shell": f"echo pwned >> '{bashrc}'"})
            assert r.is_error and "Read-only file system" in r.structured_content["stderr"], r
            os.symlink(bashrc, os.path.join(WS, "rc-link"))
            r = await call(session, "write_file", {"path": "rc-link", "content": "pwned\n"})
            assert r.is_error, r
            assert open(bashrc).read() == before, "~/.bashrc changed"
            ok("denied: ~/.bashrc (by path, by `..`, by a command, through a symlink); unchanged")

            for path in [".git/hooks/post-checkout", ".envrc", "sub/.vscode/tasks.json"]:
                r = await call(session, "write_file", {"path": path, "content": "#!/bin/sh\necho pwned\n"})
                assert r.is_error and r.structured_content["exit_status"] != 0, (path, r)
                assert not os.path.lexists(os.path.join(WS, path)), f"{path} was created"
                why = r.structured_content["brig"]
                assert any("protected name" in line for line in why), (path, r)
            ok("denied: .git/hooks/post-checkout, .envrc, sub/.vscode/tasks.json not created; brig says why")

            secret = os.path.join(HOME, ".ssh", "id_ed25519")
            os.symlink(secret, os.path.join(WS, "key-link"))
            r = await call(session, "read_file", {"path": "key-link"})
            assert r.is_error and "SECRET" not in json.dumps(r.structured_content), r
            ok("denied: reading ~/.ssh/id_ed25519 through a symlink in the workspace")

            patch = (
                "--- a/notes/hello.txt\n+++ b/notes/hello.txt\n@@ -1 +1,2 @@\n-hello\n+hello world\n+bye\n"
                "--- /dev/null\n+++ b/notes/new.txt\n@@ -0,0 +1 @@\n+new file\n"
            )
            r = await call(session, "apply_patch", {"patch": patch})
            assert not r.is_error, r
            assert open(os.path.join(WS, "notes/hello.txt")).read() == "hello world\nbye\n"
            assert open(os.path.join(WS, "notes/new.txt")).read() == "new file\n"
            r = await call(session, "apply_patch", {"patch": "--- a/.envrc\n+++ b/.envrc\n@@ -0,0 +1 @@\n+x\n"})
            assert r.is_error and not os.path.lexists(os.path.join(WS, ".envrc")), r
            r = await call(session, "apply_patch", {"patch": "--- a/../x\n+++ b/../x\n@@ -0,0 +1 @@\n+x\n"})
            assert r.is_error and "climbs out" in text(r), r
            ok("apply_patch: applied (a change and a new file); .envrc and `..` refused")

            r = await call(session, "policy", {})
            plan = json.loads(text(r))
            assert plan["plan"]["approvals"]["policy"] == "on-request", plan["plan"]["approvals"]
            ok("policy: brig policy explain --json")

            msg = await expect_protocol_error(session, "run", {"argv": 7}, "invalid arguments for `run`")
            await expect_protocol_error(session, "run", {"argv": ["x"], "bogus": 1}, "unknown field `bogus`")
            await expect_protocol_error(session, "write_file", {"path": "x"}, "missing field `content`")
            await expect_protocol_error(session, "no_such_tool", {}, "unknown tool `no_such_tool`")
            r = await call(session, "run", {"argv": ["x"], "shell": "y"})
            assert r.is_error and "not both" in text(r), r
            r = await call(session, "run", {"argv": ["echo", "still", "here"]})
            assert r.structured_content["stdout"] == "still here\n", r
            ok(f"malformed calls answered with errors ({msg}); the server keeps serving")

            # The approval round-trip: the call waits, a human approves from outside.
            task = asyncio.create_task(call(session, "run", {"shell": "rm -rf build"}, timeout=120))
            req = await wait_for_request("rm -rf build")
            assert req["destructive"], req
            assert os.path.isdir(os.path.join(WS, "build")), "build is gone before the approval"
            assert not task.done(), "the call returned before the approval"
            names = ["tester", "tester-2"]
            for name in names[: req["required"]]:
                out = brig("approvals", "approve", req["id"], "--as", name)
                assert out.returncode == 0, out
            r = await asyncio.wait_for(task, 120)
            assert not r.is_error and r.structured_content["exit_status"] == 0, r
            assert not os.path.exists(os.path.join(WS, "build")), "build is still there"
            ok(f"approval: `rm -rf build` waited ({req['required']} approval(s) required), approved, ran")

            task = asyncio.create_task(call(session, "run", {"argv": ["rm", "-rf", "build2"]}, timeout=120))
            req = await wait_for_request("rm -rf build2")
            out = brig("approvals", "deny", req["id"], "--as", "tester")
            assert out.returncode == 0, out
            r = await asyncio.wait_for(task, 120)
            s = r.structured_content
            assert r.is_error and s["exit_status"] == 118, r
            assert any("denied" in line for line in s["brig"]), r
            assert os.path.isdir(os.path.join(WS, "build2")), "build2 is gone"
            ok(f"denial: exit 118, {s['brig'][-1]}")

    raw_protocol()


def raw_protocol():
    """Bytes no SDK would send: the server answers with JSON-RPC errors and keeps serving."""
    p = subprocess.Popen(
        [BRIG, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=WS
    )

    def send(msg):
        p.stdin.write((msg if isinstance(msg, str) else json.dumps(msg)) + "\n")
        p.stdin.flush()

    def reply(want_id):
        while True:
            line = p.stdout.readline()
            assert line, f"the server closed stdout before answering {want_id}"
            msg = json.loads(line)
            if msg.get("id") == want_id:
                return msg

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    assert "result" in reply(1)
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send("this is not json {")
    send({"jsonrpc": "2.0", "id": 2, "method": "no/such/method"})
    assert reply(2)["error"]["code"] == -32601
    send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "run", "arguments": {"argv": [1, 2]}}})
    assert reply(3)["error"]["code"] == -32602
    send({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope"}})
    assert reply(4)["error"]["code"] == -32602
    send({"jsonrpc": "2.0", "id": 5, "method": "tools/list"})
    assert len(reply(5)["result"]["tools"]) == 5

    # A cancelled call stops its sandbox: the command is gone soon after.
    marker = f"sleep 41.{os.getpid()}"
    send({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "run", "arguments": {"shell": f"{marker}; echo never"}}})
    want = marker.replace(" ", "\0").encode() + b"\0"

    def running():  # a process whose command line is exactly the marker, seen in /proc
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read() == want:
                        return True
            except OSError:
                pass
        return False

    deadline = time.monotonic() + 30
    while not running():
        assert time.monotonic() < deadline, "the command of the call to cancel never started"
        time.sleep(0.05)
    send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 6, "reason": "test"}})
    deadline = time.monotonic() + 10
    while running():
        assert time.monotonic() < deadline, f"`{marker}` still runs 10 s after its call was cancelled"
        time.sleep(0.05)
    send({"jsonrpc": "2.0", "id": 7, "method": "tools/list"})
    assert len(reply(7)["result"]["tools"]) == 5
    p.stdin.close()
    assert p.wait(timeout=30) == 0, "the server did not exit cleanly at the end of its input"
    ok("raw JSON-RPC: invalid JSON, an unknown method, wrong types: errors, then tools/list; a cancelled call's sandbox stops; clean exit at EOF")


asyncio.run(main())
print("all checks passed")
