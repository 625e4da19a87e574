//! Stamps the git commit into `--version` (`GATEWAY_BUILD_COMMIT`), "unknown" outside
//! a git checkout. Reruns only when HEAD moves: on `.git/HEAD` and the ref it names.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GATEWAY_BUILD_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let (Some(common), Some(name)) = (
        git(&["rev-parse", "--git-common-dir"]),
        git(&["symbolic-ref", "-q", "HEAD"]),
    ) {
        let common = PathBuf::from(common);
        let common = if common.is_absolute() {
            common
        } else {
            std::env::current_dir().unwrap_or_default().join(common)
        };
        let loose = common.join(&name);
        let watched = if loose.exists() {
            loose
        } else {
            common.join("packed-refs")
        };
        println!("cargo:rerun-if-changed={}", watched.display());
    }
}
