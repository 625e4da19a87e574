//! A small tmpfs of its own per test, to make a database's disk fill up or turn
//! read-only for real. Needs root (mount(8)); without it the test fails saying so — it
//! never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A mounted tmpfs, unmounted and removed on drop.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

fn run(what: &str, command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({command:?}): {}\nThese fault tests mount a small tmpfs and need \
         root (CI runs them as root); they never skip.",
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB on a fresh folder.
    pub fn mount(kib: u32) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sa-tmpfs-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the mount point");
        run(
            "mounting a tmpfs",
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
                .arg(&dir),
        );
        Self { dir }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Fills every free byte with a file `filler`.
    pub fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.join("filler")).expect("create filler");
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }

    /// Frees what [`Tmpfs::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(self.dir.join("filler")).expect("remove filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}
