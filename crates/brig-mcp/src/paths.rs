//! Tool paths: checked lexically before anything is spawned.
//!
//! This is only the first, friendly check (a clear error instead of a sandbox refusal). The
//! authority is the kernel: the path is handed to a command that `brig run` confines, so
//! symlinks out of the workspace, protected names (`.git`, `.envrc`, ...) and hidden secrets
//! are refused there exactly as for any command the agent runs.

use std::path::{Component, Path, PathBuf};

use crate::ToolError;

/// Resolves `path` (relative to `workspace`, or absolute inside it) to a relative path without
/// `.` or `..` components. Refuses an empty path, a NUL byte, an absolute path outside the
/// workspace and a `..` that climbs out of it.
pub fn resolve(workspace: &Path, path: &str) -> Result<PathBuf, ToolError> {
    let bad = |why: &str| ToolError::Path {
        path: path.to_string(),
        why: why.to_string(),
    };
    if path.is_empty() {
        return Err(bad("the path is empty"));
    }
    if path.contains('\0') {
        return Err(bad("the path contains a NUL byte"));
    }
    let p = Path::new(path);
    let rel = if p.is_absolute() {
        let inside = lexical(p).ok_or_else(|| bad("`..` climbs above /"))?;
        match inside.strip_prefix(workspace) {
            Ok(r) => r.to_path_buf(),
            Err(_) => {
                return Err(bad(&format!(
                    "it is outside the workspace {} (tool paths are relative to it)",
                    workspace.display()
                )))
            }
        }
    } else {
        p.to_path_buf()
    };
    let normal = lexical(&rel).ok_or_else(|| {
        bad(&format!(
            "`..` climbs out of the workspace {}",
            workspace.display()
        ))
    })?;
    if normal.as_os_str().is_empty() {
        return Err(bad("it names the workspace itself, not a file in it"));
    }
    Ok(normal)
}

/// `p` without `.` and with each `..` applied; `None` when a `..` has nothing to remove.
fn lexical(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for c in p.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return None;
                }
                depth -= 1;
                out.pop();
            }
            Component::Normal(n) => {
                depth += 1;
                out.push(n);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> String {
        resolve(Path::new("/ws"), path)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn err(path: &str) -> String {
        resolve(Path::new("/ws"), path).unwrap_err().to_string()
    }

    #[test]
    fn paths_inside_the_workspace_resolve_relative() {
        assert_eq!(ok("a.txt"), "a.txt");
        assert_eq!(ok("./src/../b/c.rs"), "b/c.rs");
        assert_eq!(ok("/ws/src/lib.rs"), "src/lib.rs");
        assert_eq!(ok("/ws/x/../y"), "y");
        assert_eq!(ok(".git/hooks/x"), ".git/hooks/x");
    }

    #[test]
    fn escapes_are_refused_with_the_reason() {
        assert_eq!(
            err("../etc/passwd"),
            "path `../etc/passwd`: `..` climbs out of the workspace /ws"
        );
        assert_eq!(
            err("a/../../b"),
            "path `a/../../b`: `..` climbs out of the workspace /ws"
        );
        assert_eq!(
            err("/root/.bashrc"),
            "path `/root/.bashrc`: it is outside the workspace /ws (tool paths are relative to it)"
        );
        assert_eq!(
            err("/ws/../etc/x"),
            "path `/ws/../etc/x`: it is outside the workspace /ws (tool paths are relative to it)"
        );
        assert_eq!(
            err("/wsx/a"),
            "path `/wsx/a`: it is outside the workspace /ws (tool paths are relative to it)"
        );
        assert_eq!(err(""), "path ``: the path is empty");
        assert_eq!(err("a\0b"), "path `a\0b`: the path contains a NUL byte");
        assert_eq!(
            err("x/.."),
            "path `x/..`: it names the workspace itself, not a file in it"
        );
    }
}
