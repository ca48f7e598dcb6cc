//! Finding protected entries from outside the sandbox, fast: the walk runs in brig itself while
//! the sandbox's PID 1 builds its mounts (two cores, two jobs), and it skips reading
//! directories that have not changed since the last run.
//!
//! The cache maps each directory (relative path) to its device, inode and *ctime* and to what
//! the walk found in it (subdirectories, protected names). A directory's ctime changes whenever
//! an entry is added, removed or renamed in it, and no process can set it back (unlike mtime),
//! so an unchanged ctime means an unchanged listing. Entries younger than two seconds are
//! always read again (coarse timestamps on some filesystems). The cache lives in brig's state
//! directory, which the command can neither read nor write; a missing or corrupt cache is
//! simply a full walk.
//!
//! The result is a list of relative paths. PID 1 opens each of them again below the writable
//! root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` before binding it, so a tree that
//! changed in between cannot redirect a mount; and while any sandbox runs, the create guard
//! refuses creating protected names and moving directories that hold them.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use brig_policy::name_matches;

use crate::sys::{self, EntryKind};

/// What one directory held at the last walk.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dir {
    dev: u64,
    ino: u64,
    ctime: (i64, i64),
    subdirs: Vec<Vec<u8>>,
    hits: Vec<(Vec<u8>, EntryKind)>,
}

/// The walk cache of one writable root.
#[derive(Debug, Default)]
pub struct Cache {
    dirs: HashMap<Vec<u8>, Dir>,
    changed: bool,
}

const MAGIC: &[u8] = b"BRIGWALK2\n";

fn kind_code(k: EntryKind) -> u8 {
    match k {
        EntryKind::Dir => 0,
        EntryKind::Symlink => 1,
        EntryKind::File => 2,
        EntryKind::Other => 3,
    }
}

fn kind_of(c: u8) -> Option<EntryKind> {
    Some(match c {
        0 => EntryKind::Dir,
        1 => EntryKind::Symlink,
        2 => EntryKind::File,
        3 => EntryKind::Other,
        _ => return None,
    })
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        Some(self.take(n)?.to_vec())
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

impl Cache {
    /// Parses a cache file; anything malformed yields an empty cache.
    fn parse(data: &[u8], root: &Path) -> Cache {
        Self::try_parse(data, root).unwrap_or_default()
    }

    fn try_parse(data: &[u8], root: &Path) -> Option<Cache> {
        let mut r = Reader(data.strip_prefix(MAGIC)?);
        if r.bytes()? != root.as_os_str().as_bytes() {
            return None;
        }
        let mut dirs = HashMap::new();
        let count = r.u64()?;
        for _ in 0..count {
            let rel = r.bytes()?;
            let dev = r.u64()?;
            let ino = r.u64()?;
            let ctime = (r.u64()? as i64, r.u64()? as i64);
            let mut subdirs = Vec::new();
            for _ in 0..r.u64()? {
                subdirs.push(r.bytes()?);
            }
            let mut hits = Vec::new();
            for _ in 0..r.u64()? {
                let name = r.bytes()?;
                hits.push((name, kind_of(*r.take(1)?.first()?)?));
            }
            dirs.insert(
                rel,
                Dir {
                    dev,
                    ino,
                    ctime,
                    subdirs,
                    hits,
                },
            );
        }
        Some(Cache {
            dirs,
            changed: false,
        })
    }

    fn serialize(&self, root: &Path) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        put_bytes(&mut out, root.as_os_str().as_bytes());
        out.extend_from_slice(&(self.dirs.len() as u64).to_le_bytes());
        for (rel, d) in &self.dirs {
            put_bytes(&mut out, rel);
            for v in [d.dev, d.ino, d.ctime.0 as u64, d.ctime.1 as u64] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(d.subdirs.len() as u64).to_le_bytes());
            for s in &d.subdirs {
                put_bytes(&mut out, s);
            }
            out.extend_from_slice(&(d.hits.len() as u64).to_le_bytes());
            for (n, k) in &d.hits {
                put_bytes(&mut out, n);
                out.push(kind_code(*k));
            }
        }
        out
    }
}

fn cache_file(dir: &Path, root: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    root.as_os_str().as_bytes().hash(&mut h);
    dir.join(format!("{:016x}", h.finish()))
}

/// Loads the cache of `root` from `dir` (empty when absent or unreadable).
pub fn load(dir: Option<&Path>, root: &Path) -> Cache {
    match dir.map(|d| std::fs::read(cache_file(d, root))) {
        Some(Ok(data)) => Cache::parse(&data, root),
        _ => Cache::default(),
    }
}

/// Stores the cache of `root` in `dir` when it changed (atomically; errors are ignored: the
/// cache is an optimisation).
pub fn store(dir: Option<&Path>, root: &Path, cache: &Cache) {
    let Some(dir) = dir else { return };
    if !cache.changed {
        return;
    }
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    let path = cache_file(dir, root);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &cache.serialize(root)));
    if written.is_err() || std::fs::rename(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Every entry with a protected name beneath `root`, as (relative path, kind). Does not follow
/// symlinks and does not descend into protected entries.
pub fn find(
    root: &Path,
    names: &[String],
    cache: &mut Cache,
) -> io::Result<Vec<(Vec<u8>, EntryKind)>> {
    find_with_cutoff(root, names, cache, now_secs() - 2)
}

/// [`find`], trusting cache entries whose ctime is before `fresh_after` (seconds).
fn find_with_cutoff(
    root: &Path,
    names: &[String],
    cache: &mut Cache,
    fresh_after: i64,
) -> io::Result<Vec<(Vec<u8>, EntryKind)>> {
    let mut seen: HashMap<Vec<u8>, Dir> = HashMap::with_capacity(cache.dirs.len());
    let mut out = Vec::new();
    let rootfd = sys::openat(
        None,
        &sys::cstr(root)?,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )?;
    let mut stack: Vec<(OwnedFd, Vec<u8>)> = vec![(rootfd, Vec::new())];
    while let Some((fd, rel)) = stack.pop() {
        let st = sys::fstat(fd.as_fd())?;
        let ctime = (st.st_ctime, st.st_ctime_nsec);
        let cached = cache.dirs.get(&rel).filter(|d| {
            d.dev == st.st_dev && d.ino == st.st_ino && d.ctime == ctime && ctime.0 < fresh_after
        });
        let dir = match cached {
            Some(d) => d.clone(),
            None => {
                cache.changed = true;
                let mut d = Dir {
                    dev: st.st_dev,
                    ino: st.st_ino,
                    ctime,
                    subdirs: Vec::new(),
                    hits: Vec::new(),
                };
                let listed = sys::for_each_entry(fd.as_fd(), &mut |name, kind| {
                    let text = String::from_utf8_lossy(name.to_bytes());
                    if name_matches(names, &text) {
                        d.hits.push((name.to_bytes().to_vec(), kind));
                    } else if kind == EntryKind::Dir {
                        d.subdirs.push(name.to_bytes().to_vec());
                    }
                });
                match listed {
                    Ok(()) => {}
                    // A directory brig may not read cannot be changed by the command either.
                    Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
                    Err(e) => return Err(e),
                }
                d
            }
        };
        let join = |name: &[u8]| {
            let mut p = rel.clone();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(name);
            p
        };
        for (name, kind) in &dir.hits {
            out.push((join(name), *kind));
        }
        for name in &dir.subdirs {
            let Ok(c) = CString::new(name.clone()) else {
                continue;
            };
            match sys::openat(
                Some(fd.as_fd()),
                &c,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            ) {
                Ok(child) => stack.push((child, join(name))),
                // Gone, or replaced by something that is not a directory: the parent's ctime
                // changed too, so the next run reads it again.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) => {}
                // Unreadable: harmless when someone else owns it (the command, running as us
                // without privileges, cannot open it either). Ours, the command could chmod it
                // and reach a protected entry inside that we could not see: refuse.
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                    let owner = sys::lstatat(fd.as_fd(), &c).map(|st| st.st_uid);
                    if owner.is_err() || owner.ok() == Some(sys::ids().0) {
                        let shown = root.join(std::ffi::OsStr::from_bytes(&join(name)));
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            format!(
                                "{} cannot be searched for protected entries (permission denied); make it readable (chmod u+rx) or move it out of the writable root",
                                shown.display()
                            ),
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        seen.insert(rel, dir);
    }
    if seen.len() != cache.dirs.len() {
        cache.changed = true;
    }
    cache.dirs = seen;
    out.sort();
    Ok(out)
}

/// Protected entries of each writable root: (relative path, kind).
pub type Lists = Vec<Vec<(Vec<u8>, EntryKind)>>;

/// Encodes the walk results for PID 1.
pub fn encode(results: &[Vec<(Vec<u8>, EntryKind)>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(results.len() as u64).to_le_bytes());
    for r in results {
        out.extend_from_slice(&(r.len() as u64).to_le_bytes());
        for (p, k) in r {
            out.push(kind_code(*k));
            put_bytes(&mut out, p);
        }
    }
    out
}

/// Decodes [`encode`]'s output; `None` when it is truncated or malformed.
pub fn decode(data: &[u8]) -> Option<Lists> {
    let mut r = Reader(data);
    let mut out = Vec::new();
    for _ in 0..r.u64()? {
        let mut v = Vec::new();
        for _ in 0..r.u64()? {
            let k = kind_of(*r.take(1)?.first()?)?;
            v.push((r.bytes()?, k));
        }
        out.push(v);
    }
    if !r.0.is_empty() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec![".git".into(), ".envrc".into()]
    }

    #[test]
    fn finds_and_caches_and_notices_changes() {
        let base = std::env::temp_dir().join(format!("brig-walkcache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("a/b/.git/hooks")).unwrap();
        std::fs::create_dir_all(base.join("c")).unwrap();
        std::fs::write(base.join(".envrc"), "x").unwrap();
        let mut cache = Cache::default();
        let got = find(&base, &names(), &mut cache).unwrap();
        let want = vec![
            (b".envrc".to_vec(), EntryKind::File),
            (b"a/b/.git".to_vec(), EntryKind::Dir),
        ];
        assert_eq!(got, want);
        assert!(cache.changed);

        // Round trip through the file format.
        let parsed = Cache::parse(&cache.serialize(&base), &base);
        assert_eq!(parsed.dirs, cache.dirs);
        assert!(
            Cache::parse(&cache.serialize(&base), Path::new("/elsewhere"))
                .dirs
                .is_empty()
        );
        assert!(Cache::parse(b"garbage", &base).dirs.is_empty());

        // A new nested repository is found even with a warm cache (its parent's ctime moved).
        std::fs::create_dir_all(base.join("c/.git")).unwrap();
        let mut warm = parsed;
        let got = find(&base, &names(), &mut warm).unwrap();
        assert!(
            got.contains(&(b"c/.git".to_vec(), EntryKind::Dir)),
            "{got:?}"
        );

        // The encoding PID 1 receives round-trips and rejects truncation.
        let enc = encode(&[got.clone(), vec![]]);
        assert_eq!(decode(&enc), Some(vec![got, vec![]]));
        assert_eq!(decode(&enc[..enc.len() - 1]), None);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn old_unchanged_directories_are_trusted_fresh_ones_are_read_again() {
        // Plant a fake hit in a cache entry whose key matches the real directory.
        let base = std::env::temp_dir().join(format!("brig-walkcache-old-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let st = std::fs::metadata(&base).unwrap();
        use std::os::unix::fs::MetadataExt;
        let mut cache = Cache::default();
        cache.dirs.insert(
            Vec::new(),
            Dir {
                dev: st.dev(),
                ino: st.ino(),
                ctime: (st.ctime(), st.ctime_nsec()),
                subdirs: vec![],
                hits: vec![(b".git".to_vec(), EntryKind::Dir)],
            },
        );
        // Old enough: the entry is trusted and the directory is not read.
        let got = find_with_cutoff(&base, &names(), &mut cache.clone_for_test(), i64::MAX).unwrap();
        assert_eq!(got, vec![(b".git".to_vec(), EntryKind::Dir)]);
        // Too recent: read again, the fake hit is gone.
        let got = find(&base, &names(), &mut cache.clone_for_test()).unwrap();
        assert!(got.is_empty());
        // A different inode (directory replaced): read again.
        let mut other = cache.clone_for_test();
        other.dirs.get_mut(&Vec::new()).unwrap().ino ^= 1;
        assert!(find_with_cutoff(&base, &names(), &mut other, i64::MAX)
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(&base).unwrap();
    }

    impl Cache {
        fn clone_for_test(&self) -> Cache {
            Cache {
                dirs: self.dirs.clone(),
                changed: false,
            }
        }
    }
}
