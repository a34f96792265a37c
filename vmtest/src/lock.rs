//! kernels.lock: the exact package versions and .deb checksums a run uses.
//!
//! Written by `cargo xtask vmtest --update-kernels`, committed, and read by every
//! other run, so two machines boot byte-identical kernels.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::{Matrix, Source, line_of};

/// The command that re-resolves the lock; named in every lock error.
pub const UPDATE_COMMAND: &str = "cargo xtask vmtest --update-kernels";

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// One entry per Debian-sourced kernel.
    #[serde(default)]
    pub kernel: Vec<LockedKernel>,
}

/// A resolved kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedKernel {
    /// The kernels.toml name.
    pub name: String,
    /// Suite it was resolved in.
    pub suite: String,
    /// Package it was resolved from.
    pub package: String,
    /// The package's resolved version.
    pub version: String,
    /// Every .deb to fetch (the package and the kernel packages it depends on).
    pub deb: Vec<LockedDeb>,
}

/// One .deb with its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDeb {
    /// Binary package name.
    pub package: String,
    /// Exact version.
    pub version: String,
    /// Path in the archive's pool.
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the .deb, lowercase hex.
    pub sha256: String,
}

/// A kernels.lock problem.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock could not be read or written.
    #[error("{file}: {error}")]
    Io {
        /// kernels.lock path.
        file: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Syntax or shape.
    #[error("{file}:{line}: {reason}")]
    Syntax {
        /// kernels.lock path.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The lock does not match kernels.toml.
    #[error("{file}: kernel {name:?}: {reason}; run `{UPDATE_COMMAND}`")]
    Stale {
        /// kernels.lock path.
        file: PathBuf,
        /// The kernel.
        name: String,
        /// What does not match.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    #[serde(default)]
    kernel: Vec<Spanned<LockedKernel>>,
}

impl Lock {
    /// Reads `file`; a missing file is an empty lock (every kernel then is stale).
    pub fn load(file: &Path) -> Result<Lock, LockError> {
        match std::fs::read_to_string(file) {
            Ok(text) => Lock::parse(file, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::default()),
            Err(error) => Err(LockError::Io {
                file: file.to_path_buf(),
                error,
            }),
        }
    }

    /// Parses and checks the shape of `text` (the contents of `file`).
    pub fn parse(file: &Path, text: &str) -> Result<Lock, LockError> {
        let syntax = |line, reason| LockError::Syntax {
            file: file.to_path_buf(),
            line,
            reason,
        };
        let raw: RawLock = toml::from_str(text).map_err(|e| {
            syntax(
                e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
                e.message().to_string(),
            )
        })?;
        let mut names = HashSet::new();
        let mut kernel = Vec::new();
        for s in raw.kernel {
            let line = line_of(text, s.span().start);
            let k = s.into_inner();
            if !names.insert(k.name.clone()) {
                return Err(syntax(line, format!("kernel {:?} locked twice", k.name)));
            }
            if k.deb.is_empty() {
                return Err(syntax(line, format!("kernel {:?} has no deb", k.name)));
            }
            for d in &k.deb {
                if d.sha256.len() != 64
                    || !d
                        .sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(syntax(
                        line,
                        format!(
                            "kernel {:?}: {} has a malformed sha256 {:?}",
                            k.name, d.package, d.sha256
                        ),
                    ));
                }
                if !d.filename.ends_with(".deb") || d.filename.contains("..") {
                    return Err(syntax(
                        line,
                        format!(
                            "kernel {:?}: {} has a bad filename {:?}",
                            k.name, d.package, d.filename
                        ),
                    ));
                }
            }
            kernel.push(k);
        }
        Ok(Lock { kernel })
    }

    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&LockedKernel> {
        self.kernel.iter().find(|k| k.name == name)
    }

    /// Checks that every Debian kernel of `matrix` named in `wanted` is locked from
    /// the same suite and package.
    pub fn check(&self, file: &Path, matrix: &Matrix, wanted: &[&str]) -> Result<(), LockError> {
        for k in matrix
            .kernels
            .iter()
            .filter(|k| wanted.contains(&k.name.as_str()))
        {
            let Source::Debian { suite, package } = &k.source else {
                continue;
            };
            let stale = |reason: String| LockError::Stale {
                file: file.to_path_buf(),
                name: k.name.clone(),
                reason,
            };
            match self.get(&k.name) {
                None => return Err(stale("not in the lock".into())),
                Some(l) if &l.suite != suite || &l.package != package => {
                    return Err(stale(format!(
                        "locked from {}/{} but kernels.toml says {suite}/{package}",
                        l.suite, l.package
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Writes the lock with a header saying how it is made.
    pub fn save(&self, file: &Path) -> Result<(), LockError> {
        let body = toml::to_string_pretty(self).expect("the lock serializes");
        let text = format!(
            "# Resolved kernel packages for kernels.toml. Written by `{UPDATE_COMMAND}`;\n\
             # every other run fetches exactly these versions and checks these checksums.\n\n{body}"
        );
        std::fs::write(file, text).map_err(|error| LockError::Io {
            file: file.to_path_buf(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "efe19f605b6f54a8352e68d85a629abb2d30b72a085faef603a9152590baa791";

    fn entry(name: &str, sha: &str) -> String {
        format!(
            "[[kernel]]\nname = \"{name}\"\nsuite = \"bookworm\"\npackage = \"linux-image-cloud-amd64\"\nversion = \"6.1.176-1\"\n\
             [[kernel.deb]]\npackage = \"linux-image-6.1.0-50-cloud-amd64\"\nversion = \"6.1.176-1\"\n\
             filename = \"pool/main/l/x.deb\"\nsize = 1\nsha256 = \"{sha}\"\n"
        )
    }

    fn matrix(package: &str) -> Matrix {
        let text = format!(
            "[[kernel]]\nname = \"6.1\"\nsuite = \"bookworm\"\npackage = \"{package}\"\nflavour = \"cloud\"\n"
        );
        Matrix::parse(Path::new("kernels.toml"), &text).unwrap()
    }

    #[test]
    fn a_lock_round_trips_through_save_and_load() {
        let lock = Lock::parse(Path::new("kernels.lock"), &entry("6.1", SHA)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kernels.lock");
        lock.save(&file).unwrap();
        assert_eq!(Lock::load(&file).unwrap(), lock);
    }

    #[test]
    fn a_malformed_checksum_names_the_line_and_package() {
        let e = Lock::parse(Path::new("kernels.lock"), &entry("6.1", "abc"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("kernels.lock:1:"), "{e}");
        assert!(
            e.contains("linux-image-6.1.0-50-cloud-amd64 has a malformed sha256"),
            "{e}"
        );
    }

    #[test]
    fn a_kernel_locked_twice_is_refused() {
        let text = format!("{}\n{}", entry("6.1", SHA), entry("6.1", SHA));
        let e = Lock::parse(Path::new("kernels.lock"), &text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("locked twice"), "{e}");
    }

    #[test]
    fn an_unknown_key_in_the_lock_is_refused() {
        let e = Lock::parse(
            Path::new("kernels.lock"),
            &format!("{}colour = 1\n", entry("6.1", SHA)),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn a_kernel_missing_from_the_lock_names_the_update_command() {
        let e = Lock::default()
            .check(
                Path::new("kernels.lock"),
                &matrix("linux-image-cloud-amd64"),
                &["6.1"],
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "kernels.lock: kernel \"6.1\": not in the lock; run `cargo xtask vmtest --update-kernels`"
        );
    }

    #[test]
    fn a_lock_from_another_package_is_stale() {
        let lock = Lock::parse(Path::new("kernels.lock"), &entry("6.1", SHA)).unwrap();
        lock.check(
            Path::new("kernels.lock"),
            &matrix("linux-image-cloud-amd64"),
            &["6.1"],
        )
        .unwrap();
        let e = lock
            .check(
                Path::new("kernels.lock"),
                &matrix("linux-image-amd64"),
                &["6.1"],
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kernels.toml says bookworm/linux-image-amd64"),
            "{e}"
        );
    }
}
