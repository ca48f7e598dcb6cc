//! Protected names: which walked entries are protected, and the guard for names that do not
//! exist yet.
//!
//! ## Existing entries: deny ACEs
//!
//! An entry whose name is protected (`.git`, `.vscode`, `.brig*`, ... compared
//! ASCII-case-insensitively, at any depth inside a writable root) gets a deny entry for the
//! workspace's capability SID ([`crate::acl::mask::PROTECT`], inherited by everything inside a
//! directory). ACLs belong to the object, not to a spelling of its name, so `.GiT`, the 8.3
//! alias `GIT~1`, a junction or a hard link that reaches the same object are all covered; and
//! the ACL of a file covers its alternate data streams.
//!
//! ## Names that do not exist yet: a watch and a sweep (detection, not prevention)
//!
//! A Windows ACL cannot name a child: the right to create *a* subdirectory
//! (`FILE_ADD_SUBDIRECTORY`) is the right to create *any*, `.git` included. The only
//! name-aware prevention on Windows is a file-system minifilter driver (kernel code that must
//! be signed by Microsoft); brig does not ship one. Placeholder entries created by brig at setup
//! were considered and rejected: a read-only `.git` in every directory breaks git itself, and
//! cannot exist in the directories the command creates during the run.
//!
//! brig's choice: the runner watches every writable root (`ReadDirectoryChangesW`, recursive)
//! while the command runs and, on seeing a new protected entry, writes the deny entry on it at
//! once; after the run, [`CreateGuardPlan::new_protected`] compares a fresh walk with the
//! entries that existed before and lists the protected entries the run created, which the
//! runner moves out of the workspace (into brig's state directory) and reports as blocked
//! creates. Its limits, stated plainly:
//! - between the creation and the deny entry (milliseconds) the command can write inside the
//!   new entry, and a handle it opened in that window keeps its access: within the run, a
//!   `git init` in a subdirectory can work;
//! - the watch's buffer can overflow: then only the post-run sweep is authoritative;
//! - a command that never exits (a server) keeps what it created until it does;
//! - what the sweep removes is what host tools never see: the protection that matters (host
//!   git, editors and agents must not run what the command planted) holds once the run ends.

use brig_policy::{name_matches, GitAccess, GIT_ALWAYS_PROTECTED};

use crate::path::WinPath;

/// One entry found by the host's walk of the writable roots. The walk does not follow reparse
/// points (symbolic links, junctions, mount points): it reports them with
/// [`WalkEntry::reparse_point`] and does not enter them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkEntry {
    /// The entry.
    pub path: WinPath,
    /// A directory.
    pub is_dir: bool,
    /// A reparse point (`FILE_ATTRIBUTE_REPARSE_POINT`): not entered, not followed.
    pub reparse_point: bool,
}

/// How an entry is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Read-only with everything inside it.
    Full,
    /// A `.git` directory with `git = "local-commit"`: it cannot be deleted, renamed or
    /// re-permissioned; its contents are writable except [`GIT_ALWAYS_PROTECTED`].
    GitDirShell,
}

/// How `path` (strictly inside `root`) is protected by the protected `names` and the `git`
/// setting of a plan, if it is.
pub fn classify(
    names: &[String],
    git: GitAccess,
    root: &WinPath,
    path: &WinPath,
    is_dir: bool,
) -> Option<Protection> {
    let rel = path.strip_prefix(root)?;
    let name = rel.last()?;
    let is_git = |s: &str| s.eq_ignore_ascii_case(".git");
    if git == GitAccess::LocalCommit {
        if is_git(name) && is_dir {
            return Some(Protection::GitDirShell);
        }
        let n = rel.len();
        let in_git_dir = (n >= 2 && is_git(&rel[n - 2]))
            || (n >= 4 && is_git(&rel[n - 4]) && rel[n - 3].eq_ignore_ascii_case("worktrees"));
        if in_git_dir
            && GIT_ALWAYS_PROTECTED
                .iter()
                .any(|g| g.eq_ignore_ascii_case(name))
        {
            return Some(Protection::Full);
        }
    }
    name_matches(names, name).then_some(Protection::Full)
}

/// The protected entries among `walked`, outermost first: an entry inside a fully protected
/// directory is left out (the directory's inherited deny covers it).
pub fn protected_entries<'a>(
    names: &[String],
    git: GitAccess,
    roots: &[WinPath],
    walked: &'a [WalkEntry],
) -> Vec<(&'a WalkEntry, Protection)> {
    let mut found: Vec<(&WalkEntry, Protection)> = walked
        .iter()
        .filter_map(|e| {
            roots
                .iter()
                .find_map(|r| classify(names, git, r, &e.path, e.is_dir))
                .map(|p| (e, p))
        })
        .collect();
    found.sort_by_key(|(e, _)| e.path.components().len());
    let mut out: Vec<(&WalkEntry, Protection)> = Vec::new();
    for (e, p) in found {
        let covered = out.iter().any(|(o, op)| {
            *op == Protection::Full && o.is_dir && e.path.strip_prefix(&o.path).is_some()
        });
        if !covered && !out.iter().any(|(o, _)| o.path == e.path) {
            out.push((e, p));
        }
    }
    out
}

/// The guard for protected names created during the run (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateGuardPlan {
    /// The roots to watch: the writable roots (not the private temp root, from which nothing
    /// host-side runs).
    pub roots: Vec<WinPath>,
    /// The protected names, as in the plan (ASCII case-insensitive, trailing `*` = prefix).
    pub names: Vec<String>,
    /// The `git` setting, which decides what inside `.git` is protected.
    pub git: GitAccess,
    /// The protected entries that existed before the run (they stay; they are denied).
    pub existing: Vec<WinPath>,
}

impl CreateGuardPlan {
    /// True when a new entry at `path` must be denied at once by the watch.
    pub fn is_protected(&self, path: &WinPath, is_dir: bool) -> bool {
        self.roots
            .iter()
            .any(|r| classify(&self.names, self.git, r, path, is_dir).is_some())
    }

    /// The protected entries in `after` (a walk made when the run ended) that did not exist
    /// before it, outermost only: what the runner moves out and reports.
    pub fn new_protected(&self, after: &[WalkEntry]) -> Vec<WinPath> {
        let mut out: Vec<WinPath> = Vec::new();
        for (e, _) in protected_entries(&self.names, self.git, &self.roots, after) {
            if self.existing.contains(&e.path) {
                continue;
            }
            if !out.iter().any(|o| e.path.starts_with(o)) {
                out.push(e.path.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> WinPath {
        WinPath::parse(s).unwrap()
    }

    fn dir(s: &str) -> WalkEntry {
        WalkEntry {
            path: p(s),
            is_dir: true,
            reparse_point: false,
        }
    }

    fn names() -> Vec<String> {
        vec![".git".into(), ".vscode".into(), ".brig*".into()]
    }

    #[test]
    fn classifies_at_depth_with_case_variants_and_prefixes() {
        let (n, g) = (names(), GitAccess::ReadOnly);
        let root = p(r"C:\w");
        assert_eq!(
            classify(&n, g, &root, &p(r"C:\w\a\b\c\.GiT"), true),
            Some(Protection::Full)
        );
        assert_eq!(
            classify(&n, g, &root, &p(r"C:\w\.BRIG.toml"), false),
            Some(Protection::Full)
        );
        assert_eq!(classify(&n, g, &root, &p(r"C:\w\.gitignore"), false), None);
        assert_eq!(classify(&n, g, &root, &p(r"C:\other\.git"), true), None);
        assert_eq!(classify(&n, g, &root, &p(r"C:\w"), true), None);
    }

    #[test]
    fn local_commit_protects_the_git_internals_only() {
        let (n, g) = (names(), GitAccess::LocalCommit);
        let root = p(r"C:\w");
        assert_eq!(
            classify(&n, g, &root, &p(r"C:\w\.git"), true),
            Some(Protection::GitDirShell)
        );
        assert_eq!(
            classify(&n, g, &root, &p(r"C:\w\.git"), false),
            Some(Protection::Full)
        );
        assert_eq!(
            classify(&n, g, &root, &p(r"C:\w\.git\HOOKS"), true),
            Some(Protection::Full)
        );
        assert_eq!(
            classify(&n, g, &root, &p(r"C:\w\.git\config"), false),
            Some(Protection::Full)
        );
        assert_eq!(
            classify(&n, g, &root, &p(r"C:\w\.git\worktrees\x\config"), false),
            Some(Protection::Full)
        );
        assert_eq!(classify(&n, g, &root, &p(r"C:\w\.git\objects"), true), None);
        assert_eq!(classify(&n, g, &root, &p(r"C:\w\src\config"), false), None);
    }

    #[test]
    fn entries_inside_a_protected_directory_are_covered_by_it() {
        let walked = vec![
            dir(r"C:\w\a\.git\.git"),
            dir(r"C:\w\a\.git"),
            dir(r"C:\w\b\.vscode"),
        ];
        let got: Vec<String> =
            protected_entries(&names(), GitAccess::ReadOnly, &[p(r"C:\w")], &walked)
                .into_iter()
                .map(|(e, _)| e.path.to_string())
                .collect();
        assert_eq!(got, [r"C:\w\a\.git", r"C:\w\b\.vscode"]);
    }

    #[test]
    fn the_sweep_lists_only_what_the_run_created() {
        let guard = CreateGuardPlan {
            roots: vec![p(r"C:\w")],
            names: names(),
            git: GitAccess::ReadOnly,
            existing: vec![p(r"C:\w\.git")],
        };
        let after = vec![
            dir(r"C:\w\.git"),
            dir(r"C:\w\sub\.Git"),
            dir(r"C:\w\sub\.Git\hooks"),
            WalkEntry {
                path: p(r"C:\w\deep\er\.brigrc"),
                is_dir: false,
                reparse_point: false,
            },
            dir(r"C:\w\src"),
        ];
        assert_eq!(
            guard.new_protected(&after),
            vec![p(r"C:\w\sub\.Git"), p(r"C:\w\deep\er\.brigrc")]
        );
        assert!(guard.is_protected(&p(r"C:\w\x\y\.VSCODE"), true));
        assert!(!guard.is_protected(&p(r"C:\w\x\y\vscode"), true));
        assert!(guard.new_protected(&[dir(r"C:\w\.git")]).is_empty());
    }
}
