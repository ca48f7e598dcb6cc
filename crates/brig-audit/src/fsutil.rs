//! Private file helpers with the same signature on every platform; Unix gets owner-only modes.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents, owner-only (0700) on Unix. Existing directories are left
/// as they are.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens `path` for appending, creating it owner-only (0600 on Unix) and failing if it exists.
///
/// `append(true)` means `O_APPEND`: every `write(2)` lands atomically at the current end of file,
/// whatever else holds the file open.
pub(crate) fn create_new_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.append(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes `dir`'s entries (a newly created file's name) durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Makes `dir`'s entries durable. Other platforms cannot open a directory as a file; their file
/// systems commit new names with the file's metadata.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
