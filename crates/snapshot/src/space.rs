//! Free space where a restore writes: the scratch dir the archive is downloaded to (Lambda's
//! `/tmp`, sized by the template's `ScratchStorageMiB`) and the state volume it is extracted
//! onto. Both are checked before the download, so a restore that cannot fit fails at once with
//! what to change, instead of minutes later with a full disk (and, on a full state volume, a
//! gateway that cannot write when it starts again).
//!
//! The source of the figures is a trait so tests can pretend a disk is small; production reads
//! `statvfs(2)`.

use std::io;
use std::path::Path;

use crate::error::SnapshotError;

/// Space on the file system holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged writer may still use (`f_bavail * f_frsize`).
    pub available: u64,
    /// Size of the file system (`f_blocks * f_frsize`).
    pub total: u64,
}

/// Where free-space figures come from.
pub trait FreeSpace: Send + Sync {
    /// The space of the file system holding `path`.
    fn space(&self, path: &Path) -> io::Result<Space>;
}

/// The real figures, from `statvfs(2)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Statvfs;

impl FreeSpace for Statvfs {
    fn space(&self, path: &Path) -> io::Result<Space> {
        free_space(path)
    }
}

/// `statvfs(2)` of `path`. EFS answers with an elastic size of exabytes: there the state volume
/// never limits a restore and only the archive's own bounds apply.
pub fn free_space(path: &Path) -> io::Result<Space> {
    let stat = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    // f_frsize is the unit of the block counts; some file systems leave it 0 and mean f_bsize.
    let unit = if stat.f_frsize > 0 { stat.f_frsize } else { stat.f_bsize };
    Ok(Space {
        available: stat.f_bavail.saturating_mul(unit),
        total: stat.f_blocks.saturating_mul(unit),
    })
}

/// Kept free on the state volume whatever is restored: a tenth of what is free, at most 1 GiB.
/// The gateway writes logs, SQLite journals and session files as soon as it starts; a volume
/// filled to the last byte by a restore would make that first start fail in confusing ways.
pub const STATE_MARGIN_MAX: u64 = 1 << 30;

/// What a restore may write onto a state volume with `available` bytes free.
pub fn usable_state_bytes(available: u64) -> u64 {
    available - (available / 10).min(STATE_MARGIN_MAX)
}

/// Room asked for beyond the archive itself in the scratch dir (other files of the invocation).
pub const SCRATCH_MARGIN: u64 = 16 << 20;
/// Lambda's largest ephemeral storage, in MiB (the top of `ScratchStorageMiB`).
pub const MAX_SCRATCH_MIB: u64 = 10_240;

/// Refuses, before anything is downloaded, when `scratch` cannot hold an archive of
/// `archive_bytes`; the error says which `ScratchStorageMiB` would do.
pub fn check_scratch_room(scratch: &Path, archive_bytes: u64, source: &dyn FreeSpace) -> Result<(), SnapshotError> {
    let space = source.space(scratch).map_err(|e| SnapshotError::read(scratch, e))?;
    let needed = archive_bytes.saturating_add(SCRATCH_MARGIN);
    if space.available >= needed {
        return Ok(());
    }
    // What is used now stays used: the new size is that plus what the download needs.
    let used = space.total.saturating_sub(space.available);
    let wanted_mib = used.saturating_add(needed).div_ceil(1 << 20);
    let advice = if wanted_mib <= MAX_SCRATCH_MIB {
        format!(
            "raise the restore function's ephemeral storage (template parameter `ScratchStorageMiB`) to at least \
             {wanted_mib} MiB, deploy, and restore again"
        )
    } else {
        format!(
            "it needs about {wanted_mib} MiB of ephemeral storage, more than the {MAX_SCRATCH_MIB} MiB Lambda allows \
             (`ScratchStorageMiB`): this snapshot cannot be restored by the restore function; download it and \
             restore it by hand with `openclaw backup restore`"
        )
    };
    Err(SnapshotError::ScratchTooSmall {
        path: scratch.to_path_buf(),
        needed,
        available: space.available,
        advice,
    })
}

/// Refuses, before anything is downloaded, when the state volume under `root` cannot take
/// `needed` more bytes (the previous state is kept beside the restored one, so all of it is new).
pub fn check_state_room(root: &Path, needed: u64, source: &dyn FreeSpace) -> Result<u64, SnapshotError> {
    let space = source.space(root).map_err(|e| SnapshotError::read(root, e))?;
    let usable = usable_state_bytes(space.available);
    if needed > usable {
        return Err(SnapshotError::StateVolumeTooSmall {
            path: root.to_path_buf(),
            needed,
            usable,
        });
    }
    Ok(space.available)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Space);

    impl FreeSpace for Fixed {
        fn space(&self, _: &Path) -> io::Result<Space> {
            Ok(self.0)
        }
    }

    #[test]
    fn the_real_statvfs_reads_a_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let space = free_space(tmp.path()).expect("statvfs");
        assert!(space.total > 0 && space.available <= space.total, "{space:?}");
        assert!(free_space(&tmp.path().join("missing")).is_err());
    }

    #[test]
    fn the_state_margin_is_a_tenth_at_most_a_gibibyte() {
        assert_eq!(usable_state_bytes(0), 0);
        assert_eq!(usable_state_bytes(1000), 900);
        assert_eq!(usable_state_bytes(100 << 30), (100 << 30) - (1 << 30));
        // EFS: exabytes free, the margin is 1 GiB and nothing overflows.
        assert_eq!(usable_state_bytes(u64::MAX), u64::MAX - (1 << 30));
    }

    #[test]
    fn a_small_scratch_dir_says_which_storage_size_to_set() {
        let mib = 1u64 << 20;
        let small = Fixed(Space {
            available: 100 * mib,
            total: 512 * mib,
        });
        let tmp = Path::new("/tmp");
        assert!(check_scratch_room(tmp, 50 * mib, &small).is_ok());
        let err = check_scratch_room(tmp, 300 * mib, &small).expect_err("too small");
        assert_eq!(err.error_type(), "ScratchTooSmall");
        // 412 MiB used + 300 MiB + the 16 MiB margin.
        assert!(
            err.to_string().contains("`ScratchStorageMiB`) to at least 728 MiB"),
            "{err}"
        );
        let err = check_scratch_room(tmp, 20_000 * mib, &small).expect_err("beyond Lambda");
        assert!(
            err.to_string().contains("cannot be restored by the restore function"),
            "{err}"
        );
    }

    #[test]
    fn a_full_state_volume_is_refused_with_the_margin_said() {
        let source = Fixed(Space {
            available: 1000,
            total: 10_000,
        });
        assert_eq!(check_state_room(Path::new("/mnt/x"), 900, &source).expect("fits"), 1000);
        let err = check_state_room(Path::new("/mnt/x"), 901, &source).expect_err("margin");
        assert_eq!(err.error_type(), "StateVolumeTooSmall");
        assert!(
            err.to_string().contains("901 bytes") && err.to_string().contains("only 900"),
            "{err}"
        );
    }
}
