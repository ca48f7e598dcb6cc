//! `brig mcp` end to end, driven by a real MCP client: the official Python SDK (PyPI `mcp`,
//! installed by .ci/run) runs `tests/tools/mcp_client.py`, which starts `brig mcp` over stdio
//! and lists the tools, runs commands, writes, reads and patches files, is refused writes to
//! `~/.bashrc`, `.git/hooks/`, `.envrc` and `.vscode/` and a read of `~/.ssh` through a
//! symlink, sends malformed calls (bad arguments, an unknown tool, raw invalid JSON-RPC) and
//! sees errors while the server keeps serving, and goes through an approval round-trip: a
//! `rm -rf build` that waits until the script approves it with `brig approvals approve`, and
//! a `rm -rf build2` it denies (exit 118). This test checks the host from outside afterwards.

use std::path::Path;

use crate::support::*;

both_identities!(mcp_server_end_to_end);

fn mcp_server_end_to_end(t: &Test) {
    if !t.require(SANDBOX) || !t.require(&["python3"]) {
        return;
    }
    let w = t.world();
    w.write("home/.bashrc", "# my shell\n");
    w.write("home/.ssh/id_ed25519", "SECRET key\n");
    w.write("ws/.git/HEAD", "ref: refs/heads/main\n");
    w.write("ws/.git/hooks/README", "hooks\n");
    w.write("ws/build/out.o", "object\n");
    w.write("ws/build2/out.o", "object\n");
    let before_git = w.snapshot("ws/.git");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/mcp_client.py");
    let mut c = w.command("python3");
    c.arg(&script).arg(brig_bin()).arg(&w.home);
    let out = run_command(c, None, "python3 tests/tools/mcp_client.py");
    if out.code() == Some(3) {
        let required = std::env::var("BRIG_TEST_REQUIRE").unwrap_or_default();
        assert!(
            required.is_empty(),
            "the Python MCP SDK (pip install mcp) is missing and BRIG_TEST_REQUIRE={required}:\n{out}"
        );
        eprintln!("SKIP {}: pip install mcp to test `brig mcp`", t.name);
        return;
    }
    assert!(out.success(), "the MCP client failed:\n{out}");
    assert!(out.stdout.ends_with("all checks passed\n"), "{out}");

    // The host, from outside.
    assert_eq!(w.read("home/.bashrc").as_deref(), Some("# my shell\n"));
    before_git.assert_same(&w.snapshot("ws/.git"), "after the MCP session");
    for p in ["ws/.envrc", "ws/sub/.vscode", "ws/.git/hooks/post-checkout"] {
        assert!(!w.exists(p), "{p} was created");
    }
    assert_eq!(
        w.read("ws/notes/hello.txt").as_deref(),
        Some("hello world\nbye\n")
    );
    assert!(
        !w.exists("ws/build"),
        "the approved `rm -rf build` did not run"
    );
    assert!(
        w.exists("ws/build2/out.o"),
        "the denied `rm -rf build2` ran"
    );
}
