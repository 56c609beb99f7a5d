//! Queue file save: a copy of each accepted message's queue file, so what
//! the gateway received can be looked at after the message has moved on.

use std::io;
use std::path::Path;

/// Keep `queue_file` as `<diag_dir>/queue/<id>`. A hard link costs no
/// space or time; across file systems the file is copied. A link shares
/// the live file's inode, so it also shows the attempt counter the
/// pipeline writes in place, which is 0 again once processing ends.
pub fn save_queue_file(queue_file: &Path, diag_dir: &Path, id: &str) -> io::Result<()> {
    let dir = diag_dir.join("queue");
    std::fs::create_dir_all(&dir)?;
    let saved = dir.join(id);
    std::fs::hard_link(queue_file, &saved).or_else(|_| std::fs::copy(queue_file, &saved).map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_link_in_the_queue_subdirectory_outlives_the_queue_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ABC");
        std::fs::write(&file, b"header\n\nmessage").unwrap();
        save_queue_file(&file, &dir.path().join("diag"), "ABC").unwrap();
        let saved = dir.path().join("diag/queue/ABC");
        assert_eq!(std::fs::metadata(&saved).unwrap().ino(), std::fs::metadata(&file).unwrap().ino());
        std::fs::remove_file(&file).unwrap();
        assert_eq!(std::fs::read(&saved).unwrap(), b"header\n\nmessage");
    }

    #[test]
    fn a_missing_queue_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(save_queue_file(&dir.path().join("gone"), dir.path(), "gone").is_err());
    }
}
