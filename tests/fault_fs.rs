//! Storage faults made for real, for the fault tests: a small tmpfs that fills up, and
//! files made immutable (`chattr +i`: not writable even by root). Both need root; a
//! test that cannot set them up fails saying why — it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn run(what: &str, command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({command:?}): {}\nThe storage fault tests mount a tmpfs and set \
         file attributes; they need root (CI runs them as root) and never skip.",
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// A mounted tmpfs of its own, unmounted and removed on drop.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB on a fresh folder.
    pub fn mount(kib: u32) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sa-e2e-tmpfs-{}-{n}", std::process::id()));
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

    /// Takes every free byte (a file `filler`): the disk is full.
    pub fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.join("filler")).expect("create filler");
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }

    /// Gives back what [`Tmpfs::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(self.dir.join("filler")).expect("remove filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Files made immutable (`chattr +i`) until [`Immutable::lift`] or drop. Needs a
/// filesystem that checks the attribute on every write (ext4 does; tmpfs only on open).
#[derive(Debug)]
pub struct Immutable {
    files: Vec<PathBuf>,
}

impl Immutable {
    /// Makes every existing file of `files` immutable.
    pub fn set(files: &[PathBuf]) -> Self {
        let files: Vec<PathBuf> = files.iter().filter(|f| f.exists()).cloned().collect();
        assert!(!files.is_empty(), "no file to make immutable");
        run(
            "making files immutable",
            Command::new("chattr").arg("+i").args(&files),
        );
        Self { files }
    }

    /// Makes them writable again.
    pub fn lift(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if !self.files.is_empty() {
            run(
                "making files writable again",
                Command::new("chattr").arg("-i").args(&self.files),
            );
            self.files.clear();
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        // Never leave undeletable files behind, also when the test failed.
        let _ = Command::new("chattr").arg("-i").args(&self.files).status();
    }
}
