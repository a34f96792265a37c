//! The Java side's prerequisites and build step: find `java` and `javac`, compile the
//! vulnerable app and the payload class into the target folder.

use std::collections::hash_map::DefaultHasher;
use std::ffi::OsStr;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

/// How the project installs what this module needs.
pub const INSTALL_HINT: &str = "install a Java 17 JDK: `apt-get install openjdk-17-jdk-headless` \
     (Debian/Ubuntu), or point JAVA_HOME at one";

/// Why the Java side could not be prepared.
#[derive(Debug, Error)]
pub enum JavaError {
    /// A tool is on neither JAVA_HOME/bin nor PATH.
    #[error("`{tool}` not found (looked in {looked}); {INSTALL_HINT}")]
    Missing {
        /// `java` or `javac`.
        tool: &'static str,
        /// Where it was looked for.
        looked: String,
    },
    /// javac rejected the sources.
    #[error("javac failed on {sources}: {stderr}")]
    Compile {
        /// The source folder.
        sources: PathBuf,
        /// javac's diagnostics.
        stderr: String,
    },
    /// Reading sources or writing classes failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JavaError + '_ {
    move |source| JavaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The JDK tools the scenario runs.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The `java` launcher.
    pub java: PathBuf,
    /// The `javac` compiler.
    pub javac: PathBuf,
}

impl Toolchain {
    /// Finds `java` and `javac` in `$JAVA_HOME/bin`, then on `$PATH`.
    pub fn locate() -> Result<Self, JavaError> {
        let java_home = std::env::var_os("JAVA_HOME");
        let path = std::env::var_os("PATH");
        Self::locate_in(java_home.as_deref(), path.as_deref())
    }

    /// [`Toolchain::locate`] with explicit JAVA_HOME and PATH values.
    pub fn locate_in(java_home: Option<&OsStr>, path: Option<&OsStr>) -> Result<Self, JavaError> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(home) = java_home.filter(|h| !h.is_empty()) {
            dirs.push(Path::new(home).join("bin"));
        }
        if let Some(path) = path {
            dirs.extend(std::env::split_paths(path).filter(|d| !d.as_os_str().is_empty()));
        }
        let find = |tool: &'static str| {
            dirs.iter()
                .map(|d| d.join(tool))
                .find(|p| is_executable(p))
                .ok_or_else(|| JavaError::Missing {
                    tool,
                    looked: if dirs.is_empty() {
                        "JAVA_HOME and PATH are both unset".into()
                    } else {
                        dirs.iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(":")
                    },
                })
        };
        Ok(Self {
            java: find("java")?,
            javac: find("javac")?,
        })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Where the compiled classes are.
#[derive(Debug, Clone)]
pub struct Classes {
    /// Class path of the vulnerable app (package `veto.log4shell.app`).
    pub app: PathBuf,
    /// The payload's `.class` file.
    pub payload_class: PathBuf,
}

/// The Java sources shipped with this crate.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("java")
}

fn java_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), JavaError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            java_files(&path, out)?;
        } else if path.extension() == Some(OsStr::new("java")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Compiles `sources/app` and `sources/payload` under `out_root/<hash of the sources>`.
///
/// The folder name is a hash of the sources and the compiler's path, and it is filled in a
/// private folder then renamed into place, so concurrent runs (parallel tests) never see a
/// half-written build and an unchanged tree is not recompiled.
pub fn build(toolchain: &Toolchain, sources: &Path, out_root: &Path) -> Result<Classes, JavaError> {
    let mut files = Vec::new();
    java_files(sources, &mut files)?;
    files.sort();
    let mut hasher = DefaultHasher::new();
    toolchain.javac.hash(&mut hasher);
    for f in &files {
        f.strip_prefix(sources).unwrap_or(f).hash(&mut hasher);
        std::fs::read(f).map_err(io(f))?.hash(&mut hasher);
    }
    let dest = out_root.join(format!("{:016x}", hasher.finish()));
    let classes = Classes {
        app: dest.join("app"),
        payload_class: dest
            .join("payload")
            .join(format!("{}.class", crate::payload::CLASS_NAME)),
    };
    if classes.payload_class.is_file() {
        return Ok(classes);
    }
    std::fs::create_dir_all(out_root).map_err(io(out_root))?;
    // Unique per process and call: parallel tests in one process build side by side.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = out_root.join(format!(".staging-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    for part in ["app", "payload"] {
        let part_sources: Vec<&PathBuf> = files
            .iter()
            .filter(|f| f.starts_with(sources.join(part)))
            .collect();
        let output = Command::new(&toolchain.javac)
            .arg("-encoding")
            .arg("UTF-8")
            .arg("-d")
            .arg(staging.join(part))
            .args(&part_sources)
            .output()
            .map_err(io(&toolchain.javac))?;
        if !output.status.success() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(JavaError::Compile {
                sources: sources.join(part),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
    }
    // Another run may have finished the same build first; then its copy is kept.
    if std::fs::rename(&staging, &dest).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        if !classes.payload_class.is_file() {
            return Err(JavaError::Io {
                path: dest,
                source: std::io::Error::other("could not move the compiled classes into place"),
            });
        }
    }
    Ok(classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_javac_names_the_tool_and_the_package() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/bin/true", dir.path().join("java")).unwrap();
        let err = Toolchain::locate_in(None, Some(dir.path().as_os_str())).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`javac` not found"), "{text}");
        assert!(text.contains("openjdk-17-jdk-headless"), "{text}");
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
    }

    #[test]
    fn missing_java_is_reported_first() {
        let err = Toolchain::locate_in(None, Some(OsStr::new("/nonexistent"))).unwrap_err();
        assert!(err.to_string().contains("`java` not found"), "{err}");
    }

    #[test]
    fn java_home_comes_before_path() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("bin")).unwrap();
        for tool in ["java", "javac"] {
            std::os::unix::fs::symlink("/bin/true", home.path().join("bin").join(tool)).unwrap();
        }
        let tc = Toolchain::locate_in(Some(home.path().as_os_str()), Some(OsStr::new("/usr/bin")))
            .unwrap();
        assert_eq!(tc.javac, home.path().join("bin/javac"));
    }
}
