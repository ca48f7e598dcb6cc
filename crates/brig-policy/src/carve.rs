//! Turning a deny list into an allow list, for allow-only kernel interfaces.
//!
//! Landlock can only *grant* access beneath a directory; it cannot say "everything except
//! `~/.ssh`". To deny reading a few paths, brig grants reading on every sibling of every
//! directory on the way down to them, and on nothing on the way itself:
//!
//! ```text
//! deny /home/u/.ssh      →  allow /bin /etc /usr ... (children of / except home)
//!                           allow /home/v ...         (children of /home except u)
//!                           allow /home/u/src ...     (children of /home/u except .ssh)
//! ```
//!
//! The function is pure: the caller passes a directory lister. Names are compared exactly
//! (the caller passes canonical paths).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The paths to grant so that everything stays reachable except `denied` (and the directories
/// leading to them, which keep only what their other children grant). `list` returns the
/// entry names of a directory, or `None` when it does not exist or cannot be read.
pub fn allow_all_except(
    denied: &[PathBuf],
    list: &mut dyn FnMut(&Path) -> Option<Vec<OsString>>,
) -> Vec<PathBuf> {
    let denied: BTreeSet<&Path> = denied
        .iter()
        .map(PathBuf::as_path)
        .filter(|p| p.is_absolute())
        .collect();
    // Every proper ancestor of a denied path, from "/" down.
    let mut on_the_way: BTreeSet<&Path> = BTreeSet::new();
    for d in &denied {
        let mut cur = d.parent();
        while let Some(a) = cur {
            on_the_way.insert(a);
            cur = a.parent();
        }
    }
    let mut out = BTreeSet::new();
    for dir in &on_the_way {
        if denied.iter().any(|d| dir.starts_with(d)) {
            // Beneath a denied path: nothing to grant there.
            continue;
        }
        let Some(names) = list(dir) else { continue };
        for name in names {
            let child = dir.join(&name);
            if denied.contains(child.as_path()) || on_the_way.contains(child.as_path()) {
                continue;
            }
            out.insert(child);
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fs(entries: &[(&str, &[&str])]) -> BTreeMap<PathBuf, Vec<OsString>> {
        entries
            .iter()
            .map(|(d, names)| (PathBuf::from(d), names.iter().map(OsString::from).collect()))
            .collect()
    }

    #[test]
    fn grants_siblings_on_the_way_down() {
        let tree = fs(&[
            ("/", &["bin", "home", "usr"]),
            ("/home", &["u", "v"]),
            ("/home/u", &[".ssh", ".bashrc", "src", ".config"]),
            ("/home/u/.config", &["gh", "nvim"]),
        ]);
        let mut list = |p: &Path| tree.get(p).cloned();
        let got = allow_all_except(
            &[
                PathBuf::from("/home/u/.ssh"),
                PathBuf::from("/home/u/.config/gh"),
            ],
            &mut list,
        );
        let want: Vec<PathBuf> = [
            "/bin",
            "/home/u/.bashrc",
            "/home/u/.config/nvim",
            "/home/u/src",
            "/home/v",
            "/usr",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn missing_directories_and_nested_denials_grant_nothing_extra() {
        let tree = fs(&[
            ("/", &["etc", "root"]),
            ("/root", &[".aws", "x"]),
            ("/root/.aws", &["credentials"]),
        ]);
        let mut list = |p: &Path| tree.get(p).cloned();
        let got = allow_all_except(
            &[
                PathBuf::from("/root/.aws"),
                PathBuf::from("/root/.aws/credentials"),
                PathBuf::from("/nope/secret"),
            ],
            &mut list,
        );
        let want: Vec<PathBuf> = ["/etc", "/root/x"].iter().map(PathBuf::from).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn nothing_denied_means_nothing_to_carve() {
        let mut list = |_: &Path| -> Option<Vec<OsString>> { panic!("no directory needs listing") };
        assert!(allow_all_except(&[], &mut list).is_empty());
    }
}
