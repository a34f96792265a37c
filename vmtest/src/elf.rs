//! The shared libraries a host program needs, found from its ELF: the interpreter
//! (PT_INTERP) and DT_NEEDED, recursively, searched like the dynamic loader does
//! (RUNPATH/RPATH, then the system folders). The guest gets each at the same path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Folders the loader searches after RUNPATH (Debian amd64).
const SYSTEM_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// A library that could not be found or read.
#[derive(Debug, thiserror::Error)]
#[error("{program}: {reason}")]
pub struct ElfError {
    /// The program or library that needed it.
    pub program: PathBuf,
    /// Why.
    pub reason: String,
}

/// Paths of every shared object `program` needs (empty for a static binary).
pub fn needed_libraries(program: &Path) -> Result<BTreeSet<PathBuf>, ElfError> {
    let mut found = BTreeSet::new();
    let mut todo = vec![program.to_path_buf()];
    let mut seen = BTreeSet::new();
    while let Some(p) = todo.pop() {
        if !seen.insert(p.clone()) {
            continue;
        }
        let err = |reason: String| ElfError {
            program: p.clone(),
            reason,
        };
        let bytes = std::fs::read(&p).map_err(|e| err(e.to_string()))?;
        let elf = goblin::elf::Elf::parse(&bytes).map_err(|e| err(format!("not ELF: {e}")))?;
        if let Some(interp) = elf.interpreter {
            let interp = PathBuf::from(interp);
            if !interp.exists() {
                return Err(err(format!("interpreter {} missing", interp.display())));
            }
            found.insert(interp);
        }
        let origin = p.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut dirs: Vec<PathBuf> = elf
            .runpaths
            .iter()
            .chain(elf.rpaths.iter())
            .flat_map(|r| r.split(':'))
            .map(|d| PathBuf::from(d.replace("$ORIGIN", &origin.to_string_lossy())))
            .collect();
        dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
        for lib in &elf.libraries {
            let path = dirs
                .iter()
                .map(|d| d.join(lib))
                .find(|c| c.exists())
                .ok_or_else(|| err(format!("needs {lib}, not found in {dirs:?}")))?;
            found.insert(path.clone());
            todo.push(path);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_host_program_needs_libc_and_its_loader() {
        let libs = needed_libraries(Path::new("/bin/ls")).unwrap();
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux")),
            "{libs:?}"
        );
    }

    #[test]
    fn a_static_program_needs_nothing() {
        crate::host::ensure_host_packages().expect("busybox-static");
        assert!(
            needed_libraries(Path::new("/bin/busybox"))
                .unwrap()
                .is_empty()
        );
    }
}
