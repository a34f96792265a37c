//! Kernel modules: find them, read their dependencies, order them.
//!
//! Debian's .debs ship no modules.dep, so each module's `.modinfo` section is read
//! for its `depends=` list. From 6.12 modules are `.ko.xz`; they are decompressed
//! here on the host so the guest loads plain ELF with finit_module on every kernel.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// A module problem.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// A requested or depended-on module is neither a file nor built in.
    #[error("module {name} not found under {dir} (needed by {needed_by})")]
    Missing {
        /// Normalized name.
        name: String,
        /// The modules folder.
        dir: PathBuf,
        /// Who wanted it.
        needed_by: String,
    },
    /// A module file could not be read or decoded.
    #[error("{path}: {reason}")]
    Bad {
        /// The module file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Dependencies form a cycle.
    #[error("module dependency cycle through {0}")]
    Cycle(String),
    /// The kernel has no modules folder but modules were requested.
    #[error("modules {0:?} requested but the kernel has no modules folder")]
    NoModules(Vec<String>),
}

/// Module names treat `-` and `_` alike; the kernel uses `_`.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// The modules of one kernel release.
pub struct ModuleIndex {
    dir: PathBuf,
    files: BTreeMap<String, PathBuf>,
    builtin: BTreeSet<String>,
}

/// A module ready for the initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadableModule {
    /// Normalized name.
    pub name: String,
    /// Uncompressed ELF bytes.
    pub bytes: Vec<u8>,
}

impl ModuleIndex {
    /// Indexes every `.ko` / `.ko.xz` under `dir` and reads `modules.builtin`.
    pub fn new(dir: &Path) -> Result<ModuleIndex, ModuleError> {
        let mut files = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let file = e.file_name().to_string_lossy().into_owned();
                if let Some(stem) = file
                    .strip_suffix(".ko")
                    .or_else(|| file.strip_suffix(".ko.xz"))
                {
                    files.insert(normalize(stem), p);
                }
            }
        }
        let builtin = std::fs::read_to_string(dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit('/').next()?.strip_suffix(".ko"))
            .map(normalize)
            .collect();
        Ok(ModuleIndex {
            dir: dir.to_path_buf(),
            files,
            builtin,
        })
    }

    /// `wanted` and everything they depend on, dependencies first; built-in modules
    /// are skipped (there is nothing to load).
    pub fn load_order(&self, wanted: &[String]) -> Result<Vec<LoadableModule>, ModuleError> {
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        for w in wanted {
            self.visit(
                &normalize(w),
                "kernels.toml",
                &mut Vec::new(),
                &mut done,
                &mut order,
            )?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        needed_by: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        order: &mut Vec<LoadableModule>,
    ) -> Result<(), ModuleError> {
        if done.contains(name) {
            return Ok(());
        }
        if path.iter().any(|p| p == name) {
            return Err(ModuleError::Cycle(format!(
                "{} -> {name}",
                path.join(" -> ")
            )));
        }
        let Some(file) = self.files.get(name) else {
            if self.builtin.contains(name) {
                done.insert(name.to_string());
                return Ok(());
            }
            return Err(ModuleError::Missing {
                name: name.into(),
                dir: self.dir.clone(),
                needed_by: needed_by.into(),
            });
        };
        let bytes = read_module(file)?;
        path.push(name.to_string());
        for dep in depends(&bytes).map_err(|reason| ModuleError::Bad {
            path: file.clone(),
            reason,
        })? {
            self.visit(&dep, name, path, done, order)?;
        }
        path.pop();
        done.insert(name.to_string());
        order.push(LoadableModule {
            name: name.to_string(),
            bytes,
        });
        Ok(())
    }
}

/// A module file's ELF bytes, decompressing `.ko.xz`.
pub fn read_module(path: &Path) -> Result<Vec<u8>, ModuleError> {
    let bad = |reason: String| ModuleError::Bad {
        path: path.to_path_buf(),
        reason,
    };
    let raw = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    if path.extension().is_some_and(|e| e == "xz") {
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut Cursor::new(&raw), &mut out)
            .map_err(|e| bad(format!("xz: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// The `depends=` list of a module's `.modinfo` section.
pub fn depends(elf: &[u8]) -> Result<Vec<String>, String> {
    let info = modinfo(elf)?;
    Ok(info
        .iter()
        .filter_map(|(k, v)| (k == "depends").then_some(v))
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(normalize)
        .collect())
}

/// Every `key=value` of the `.modinfo` section.
pub fn modinfo(elf: &[u8]) -> Result<Vec<(String, String)>, String> {
    let obj = goblin::elf::Elf::parse(elf).map_err(|e| format!("not an ELF module: {e}"))?;
    let sh = obj
        .section_headers
        .iter()
        .find(|s| obj.shdr_strtab.get_at(s.sh_name) == Some(".modinfo"))
        .ok_or("no .modinfo section")?;
    let start = sh.sh_offset as usize;
    let data = elf
        .get(start..start + sh.sh_size as usize)
        .ok_or(".modinfo section out of bounds")?;
    Ok(data
        .split(|&b| b == 0)
        .filter_map(|kv| {
            let s = std::str::from_utf8(kv).ok()?;
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_use_underscores() {
        assert_eq!(normalize("9pnet-virtio"), "9pnet_virtio");
    }
}
