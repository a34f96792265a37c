//! kernels.toml: which kernels make up the matrix and how each one boots.
//!
//! ```toml
//! [[kernel]]
//! name = "6.1"                       # unique; what --kernel matches
//! suite = "bookworm"                 # a Debian suite ...
//! package = "linux-image-cloud-amd64" # ... and the package to resolve in it
//! flavour = "cloud"                  # cloud (no 9p) or generic (virtio + 9p modules)
//! append = "lsm=bpf"                 # extra kernel command line (optional)
//! modules = []                       # modules to load, with their dependencies
//! expect = ["prog_lsm"]              # capabilities this kernel must have (optional)
//! default = true                     # part of the default matrix (optional, true)
//! ```
//!
//! A kernel built locally uses `image = "path/to/bzImage"` and optionally
//! `modules_dir = "path/to/lib/modules/RELEASE"` instead of suite and package
//! (relative paths are relative to kernels.toml's folder).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::registry::KNOWN_CAPABILITIES;

/// Suites whose pool keeps the versions a lock names long enough to be worth locking.
/// sid replaces its kernel within days and its history is not reachable from here.
pub const LOCKABLE_SUITES: &[&str] = &[
    "bullseye",
    "bullseye-backports",
    "bookworm",
    "bookworm-backports",
    "trixie",
    "trixie-backports",
];

/// The kernel matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// The file it was read from.
    pub file: PathBuf,
    /// Kernels in file order.
    pub kernels: Vec<Kernel>,
}

/// Where a kernel comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A Debian package resolved in a suite (its version and .debs are locked).
    Debian {
        /// e.g. `bookworm-backports`.
        suite: String,
        /// e.g. `linux-image-cloud-amd64` or `linux-image-6.19.14+deb13-cloud-amd64`.
        package: String,
    },
    /// A kernel image (and modules) on disk.
    Local {
        /// bzImage / vmlinuz.
        image: PathBuf,
        /// `lib/modules/RELEASE` folder, if the kernel needs modules.
        modules_dir: Option<PathBuf>,
    },
}

/// Kernel flavour: decides whether 9p (the host root) is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// Debian's cloud kernels: small, virtio built in, no 9p.
    Cloud,
    /// Debian's generic kernels: virtio and 9p as modules.
    Generic,
}

/// One kernel of the matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// Unique name.
    pub name: String,
    /// Line of its `[[kernel]]` table in kernels.toml, for later errors.
    pub line: usize,
    /// Where it comes from.
    pub source: Source,
    /// Flavour.
    pub flavour: Flavour,
    /// Extra kernel command line.
    pub append: String,
    /// Modules to load (names, `-` and `_` alike), dependencies added automatically.
    pub modules: Vec<String>,
    /// Capabilities this kernel must have; a test needing one of them that reports
    /// unsupported is a failure.
    pub expect: Vec<String>,
    /// In the default matrix.
    pub default: bool,
    /// Guest memory in MiB.
    pub memory_mb: u32,
}

/// A kernels.toml problem, with the place and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {error}")]
    Read {
        /// kernels.toml path.
        file: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Syntax, an unknown key, or a wrong type.
    #[error("{file}:{line}: {reason}")]
    Syntax {
        /// kernels.toml path.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An entry that parses but makes no sense.
    #[error("{file}:{line}: kernel {name:?}: {reason}")]
    Entry {
        /// kernels.toml path.
        file: PathBuf,
        /// 1-based line of the entry.
        line: usize,
        /// The entry's name (empty if it has none).
        name: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    kernel: Vec<Spanned<RawKernel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    name: Option<String>,
    suite: Option<String>,
    package: Option<String>,
    image: Option<PathBuf>,
    modules_dir: Option<PathBuf>,
    flavour: Option<Flavour>,
    #[serde(default)]
    append: String,
    #[serde(default)]
    modules: Vec<String>,
    #[serde(default)]
    expect: Vec<String>,
    default: Option<bool>,
    memory_mb: Option<u32>,
}

/// 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Matrix {
    /// Reads and validates `file`.
    pub fn load(file: &Path) -> Result<Matrix, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|error| ConfigError::Read {
            file: file.to_path_buf(),
            error,
        })?;
        Matrix::parse(file, &text)
    }

    /// Validates `text` as the contents of `file`.
    pub fn parse(file: &Path, text: &str) -> Result<Matrix, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
            reason: e.message().to_string(),
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        let mut seen = HashSet::new();
        let mut kernels = Vec::new();
        for spanned in raw.kernel {
            let line = line_of(text, spanned.span().start);
            let k = spanned.into_inner();
            let name = k.name.clone().unwrap_or_default();
            let bad = |reason: String| ConfigError::Entry {
                file: file.to_path_buf(),
                line,
                name: name.clone(),
                reason,
            };
            if name.trim().is_empty() {
                return Err(bad("missing name".into()));
            }
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(bad(
                    "name may hold only letters, digits, '.', '_' and '-'".into()
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(bad("duplicate name".into()));
            }
            let source = match (k.suite, k.package, k.image) {
                (Some(suite), Some(package), None) => {
                    if k.modules_dir.is_some() {
                        return Err(bad("modules_dir belongs to a local kernel (image = ...), not to a Debian package".into()));
                    }
                    if suite.starts_with("sid") || suite == "unstable" || suite == "experimental" {
                        if k.default.unwrap_or(true) {
                            return Err(bad(format!(
                                "suite {suite} keeps only its current kernel, so it cannot be locked: set default = false"
                            )));
                        }
                    } else if !LOCKABLE_SUITES.contains(&suite.as_str()) {
                        return Err(bad(format!(
                            "unknown suite {suite:?}; known: {}",
                            LOCKABLE_SUITES.join(", ")
                        )));
                    }
                    Source::Debian { suite, package }
                }
                (None, None, Some(image)) => Source::Local {
                    image: base.join(image),
                    modules_dir: k.modules_dir.map(|m| base.join(m)),
                },
                (None, None, None) => {
                    return Err(bad(
                        "missing source: give suite and package, or image".into()
                    ));
                }
                (Some(_), None, None) => return Err(bad("suite without package".into())),
                (None, Some(_), None) => return Err(bad("package without suite".into())),
                _ => {
                    return Err(bad(
                        "give either suite and package, or image, not both".into()
                    ));
                }
            };
            let flavour = k
                .flavour
                .ok_or_else(|| bad("missing flavour (cloud or generic)".into()))?;
            for cap in &k.expect {
                if !KNOWN_CAPABILITIES.contains(&cap.as_str()) {
                    return Err(bad(format!(
                        "unknown capability {cap:?} in expect; known: {}",
                        KNOWN_CAPABILITIES.join(", ")
                    )));
                }
            }
            kernels.push(Kernel {
                name,
                line,
                source,
                flavour,
                append: k.append,
                modules: k.modules,
                expect: k.expect,
                default: k.default.unwrap_or(true),
                memory_mb: k.memory_mb.unwrap_or(768),
            });
        }
        if kernels.is_empty() {
            return Err(ConfigError::Syntax {
                file: file.to_path_buf(),
                line: 1,
                reason: "no [[kernel]] entries".into(),
            });
        }
        Ok(Matrix {
            file: file.to_path_buf(),
            kernels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Matrix, ConfigError> {
        Matrix::parse(Path::new("kernels.toml"), text)
    }

    const GOOD: &str = r#"
[[kernel]]
name = "6.1"
suite = "bookworm"
package = "linux-image-cloud-amd64"
flavour = "cloud"
expect = ["prog_tracepoint"]

[[kernel]]
name = "mine"
image = "k/bzImage"
flavour = "generic"
default = false
"#;

    #[test]
    fn a_good_matrix_parses_with_lines_and_sources() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.kernels.len(), 2);
        assert_eq!(m.kernels[0].line, 2);
        assert_eq!(
            m.kernels[0].source,
            Source::Debian {
                suite: "bookworm".into(),
                package: "linux-image-cloud-amd64".into()
            }
        );
        assert!(
            matches!(&m.kernels[1].source, Source::Local { image, .. } if image == Path::new("k/bzImage"))
        );
        assert!(!m.kernels[1].default);
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn an_unknown_key_names_the_line_and_key() {
        let e = err(
            "[[kernel]]\nname = \"a\"\nsuite = \"bookworm\"\npackage = \"p\"\nflavour = \"cloud\"\ncolour = 1\n",
        );
        assert!(e.starts_with("kernels.toml:"), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn a_missing_source_names_the_entry() {
        let e = err("[[kernel]]\nname = \"a\"\nflavour = \"cloud\"\n");
        assert_eq!(
            e,
            "kernels.toml:1: kernel \"a\": missing source: give suite and package, or image"
        );
    }

    #[test]
    fn a_duplicate_name_names_the_second_entry() {
        let one = "[[kernel]]\nname = \"a\"\nsuite = \"bookworm\"\npackage = \"p\"\nflavour = \"cloud\"\n";
        let e = err(&format!("{one}{one}"));
        assert_eq!(e, "kernels.toml:6: kernel \"a\": duplicate name");
    }

    #[test]
    fn both_sources_at_once_are_refused() {
        let e = err(
            "[[kernel]]\nname = \"a\"\nsuite = \"bookworm\"\npackage = \"p\"\nimage = \"x\"\nflavour = \"cloud\"\n",
        );
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn sid_cannot_be_in_the_default_matrix() {
        let e = err(
            "[[kernel]]\nname = \"a\"\nsuite = \"sid\"\npackage = \"p\"\nflavour = \"cloud\"\n",
        );
        assert!(e.contains("default = false"), "{e}");
        parse("[[kernel]]\nname = \"a\"\nsuite = \"sid\"\npackage = \"p\"\nflavour = \"cloud\"\ndefault = false\n").unwrap();
    }

    #[test]
    fn an_unknown_capability_or_flavour_is_refused() {
        let e = err(
            "[[kernel]]\nname = \"a\"\nsuite = \"bookworm\"\npackage = \"p\"\nflavour = \"cloud\"\nexpect = [\"telepathy\"]\n",
        );
        assert!(e.contains("telepathy"), "{e}");
        let e = err(
            "[[kernel]]\nname = \"a\"\nsuite = \"bookworm\"\npackage = \"p\"\nflavour = \"tiny\"\n",
        );
        assert!(e.contains("kernels.toml:5"), "{e}");
    }

    #[test]
    fn a_missing_name_or_flavour_is_refused() {
        assert!(
            err("[[kernel]]\nsuite = \"bookworm\"\npackage = \"p\"\nflavour = \"cloud\"\n")
                .contains("missing name")
        );
        assert!(
            err("[[kernel]]\nname = \"a\"\nsuite = \"bookworm\"\npackage = \"p\"\n")
                .contains("missing flavour")
        );
    }

    #[test]
    fn an_unknown_suite_is_refused() {
        let e = err(
            "[[kernel]]\nname = \"a\"\nsuite = \"bokworm\"\npackage = \"p\"\nflavour = \"cloud\"\n",
        );
        assert!(e.contains("unknown suite \"bokworm\""), "{e}");
    }
}
