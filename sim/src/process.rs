//! The process table: who exists, what binary each runs, its ancestry and its
//! lineage marks (followChildren), as the trace tells it.
//!
//! Records are never removed: an exited parent still anchors its children's
//! ancestry (matchPIDs followForks), as the kernel side keeps a parent's entry
//! while children refer to it. A reused pid gets a fresh record, so ancestry
//! never jumps to an unrelated process that happens to reuse a number.

use std::sync::Arc;

use crate::compile::LineageAlloc;
use crate::error::TraceErrorKind;
use crate::hash::FastMap;

/// Whether a process can still appear in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Running.
    Alive,
    /// Exited at this line.
    Exited(usize),
    /// Killed by a call at this line.
    Killed(usize),
}

/// One process, one record per lifetime of a pid.
#[derive(Debug, Clone)]
pub struct Process {
    /// Process id (tgid).
    pub pid: u32,
    /// Parent pid as recorded when the process appeared.
    pub ppid: u32,
    /// The parent's record, when the trace knows the parent.
    pub parent: Option<usize>,
    /// The resolved binary; `None` when unresolved.
    pub exe: Option<Arc<str>>,
    /// The pid in its own namespace (defaults to `pid`).
    pub nspid: u32,
    /// Lineage marks, one bit per followChildren entry.
    pub marks: Marks,
    /// Whether it still exists.
    pub liveness: Liveness,
}

/// A small bitset of lineage marks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks(Vec<u64>);

impl Marks {
    /// True if mark `i` is set.
    pub fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, i: usize) {
        if self.0.len() <= i / 64 {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn or(&mut self, other: &Marks) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

/// All processes the trace introduced.
#[derive(Debug, Default)]
pub struct ProcessTable {
    records: Vec<Process>,
    by_pid: FastMap<u32, usize>,
}

impl ProcessTable {
    /// The record of a live `pid`, or why there is none.
    pub fn live(&self, pid: u32) -> Result<usize, TraceErrorKind> {
        let &r = self
            .by_pid
            .get(&pid)
            .ok_or(TraceErrorKind::UnknownPid(pid))?;
        match self.records[r].liveness {
            Liveness::Alive => Ok(r),
            Liveness::Exited(at) => Err(TraceErrorKind::Exited { pid, at }),
            Liveness::Killed(at) => Err(TraceErrorKind::Killed { pid, at }),
        }
    }

    /// The record at `r`.
    pub fn get(&self, r: usize) -> &Process {
        &self.records[r]
    }

    /// The parent's record if the parent is known and was not killed. A
    /// killed process cannot fork or be a parent of a new exec.
    fn parent_of_new(&self, ppid: u32) -> Result<Option<usize>, TraceErrorKind> {
        match self.by_pid.get(&ppid) {
            None => Ok(None),
            Some(&r) => match self.records[r].liveness {
                Liveness::Killed(at) => Err(TraceErrorKind::Killed { pid: ppid, at }),
                _ => Ok(Some(r)),
            },
        }
    }

    /// A new pid must not be a live or killed process.
    fn check_free(&self, pid: u32) -> Result<(), TraceErrorKind> {
        match self.by_pid.get(&pid).map(|&r| self.records[r].liveness) {
            None | Some(Liveness::Exited(_)) => Ok(()),
            Some(Liveness::Alive) => Err(TraceErrorKind::PidInUse(pid)),
            Some(Liveness::Killed(at)) => Err(TraceErrorKind::Killed { pid, at }),
        }
    }

    fn insert(&mut self, p: Process) -> usize {
        let r = self.records.len();
        self.by_pid.insert(p.pid, r);
        self.records.push(p);
        r
    }

    /// `proc`: a process that predates veto.
    pub fn proc(
        &mut self,
        pid: u32,
        ppid: u32,
        exe: Option<&str>,
        nspid: Option<u32>,
        lineage: &LineageAlloc,
    ) -> Result<(), TraceErrorKind> {
        self.check_free(pid)?;
        let parent = self.parent_of_new(ppid)?;
        let mut marks = parent
            .map(|r| self.records[r].marks.clone())
            .unwrap_or_default();
        mark_binary(&mut marks, exe, lineage);
        self.insert(Process {
            pid,
            ppid,
            parent,
            exe: exe.map(Arc::from),
            nspid: nspid.unwrap_or(pid),
            marks,
            liveness: Liveness::Alive,
        });
        Ok(())
    }

    /// `fork`: the child copies the parent's binary and marks.
    pub fn fork(&mut self, pid: u32, ppid: u32, nspid: Option<u32>) -> Result<(), TraceErrorKind> {
        let parent = self.live(ppid)?;
        self.check_free(pid)?;
        let p = &self.records[parent];
        let child = Process {
            pid,
            ppid,
            parent: Some(parent),
            exe: p.exe.clone(),
            nspid: nspid.unwrap_or(pid),
            marks: p.marks.clone(),
            liveness: Liveness::Alive,
        };
        self.insert(child);
        Ok(())
    }

    /// `exec`: a live pid replaces its image; a new pid is fork+exec of `ppid`.
    pub fn exec(
        &mut self,
        pid: u32,
        ppid: u32,
        exe: Option<&str>,
        nspid: Option<u32>,
        lineage: &LineageAlloc,
    ) -> Result<(), TraceErrorKind> {
        let r = match self.live(pid) {
            Ok(r) => {
                let p = &self.records[r];
                if p.ppid != ppid {
                    return Err(TraceErrorKind::ParentMismatch {
                        pid,
                        recorded: p.ppid,
                        given: ppid,
                    });
                }
                r
            }
            Err(TraceErrorKind::UnknownPid(_) | TraceErrorKind::Exited { .. }) => {
                let parent = self.parent_of_new(ppid)?;
                let marks = parent
                    .map(|r| self.records[r].marks.clone())
                    .unwrap_or_default();
                self.insert(Process {
                    pid,
                    ppid,
                    parent,
                    exe: None,
                    nspid: pid,
                    marks,
                    liveness: Liveness::Alive,
                })
            }
            Err(e) => return Err(e),
        };
        // The parent's marks as they are now: a parent that exec'd a marked
        // binary after forking this child passes the mark on at the child's exec.
        // Only a parent still alive does: the kernel (like Tetragon) finds it in
        // the live process map by pid, and an exited parent's entry is gone
        // (the child has been reparented to a reaper by then).
        let parent_marks = self.records[r]
            .parent
            .filter(|&pr| matches!(self.records[pr].liveness, Liveness::Alive))
            .map(|pr| self.records[pr].marks.clone());
        let p = &mut self.records[r];
        if let Some(m) = parent_marks {
            p.marks.or(&m);
        }
        mark_binary(&mut p.marks, exe, lineage);
        p.exe = exe.map(Arc::from);
        if let Some(ns) = nspid {
            p.nspid = ns;
        }
        Ok(())
    }

    /// `exit`.
    pub fn exit(&mut self, pid: u32, line: usize) -> Result<(), TraceErrorKind> {
        let r = self.live(pid)?;
        self.records[r].liveness = Liveness::Exited(line);
        Ok(())
    }

    /// Marks the process at `r` as killed by the call at `line`.
    pub fn kill(&mut self, r: usize, line: usize) {
        self.records[r].liveness = Liveness::Killed(line);
    }

    /// The process at `r` and its known ancestors, nearest first.
    pub fn lineage(&self, r: usize) -> impl Iterator<Item = &Process> {
        std::iter::successors(Some(&self.records[r]), |p| {
            p.parent.map(|r| &self.records[r])
        })
    }
}

/// Sets every mark whose binaries include `exe` (resolved only).
fn mark_binary(marks: &mut Marks, exe: Option<&str>, lineage: &LineageAlloc) {
    if let Some(exe) = exe {
        for (i, set) in lineage.marks.iter().enumerate() {
            if set.contains(exe) {
                marks.set(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(values: &[&str]) -> LineageAlloc {
        LineageAlloc {
            marks: vec![values.iter().map(|v| Box::<str>::from(*v)).collect()],
        }
    }

    #[test]
    fn forked_child_keeps_binary_until_exec() {
        let l = alloc(&[]);
        let mut t = ProcessTable::default();
        t.exec(100, 1, Some("/usr/bin/java"), None, &l).unwrap();
        t.fork(101, 100, None).unwrap();
        assert_eq!(
            t.get(t.live(101).unwrap()).exe.as_deref(),
            Some("/usr/bin/java")
        );
        t.exec(101, 100, Some("/usr/bin/dash"), None, &l).unwrap();
        assert_eq!(
            t.get(t.live(101).unwrap()).exe.as_deref(),
            Some("/usr/bin/dash")
        );
    }

    #[test]
    fn marks_are_sticky_across_exec() {
        let l = alloc(&["/usr/bin/java"]);
        let mut t = ProcessTable::default();
        t.exec(100, 1, Some("/usr/bin/java"), None, &l).unwrap();
        t.exec(101, 100, Some("/usr/bin/dash"), None, &l).unwrap();
        t.exec(101, 100, Some("/usr/bin/id"), None, &l).unwrap();
        assert!(t.get(t.live(101).unwrap()).marks.get(0));
    }

    #[test]
    fn parent_exec_after_fork_marks_child_at_its_exec() {
        let l = alloc(&["/usr/bin/java"]);
        let mut t = ProcessTable::default();
        t.exec(100, 1, Some("/usr/bin/bash"), None, &l).unwrap();
        t.fork(101, 100, None).unwrap();
        t.exec(100, 1, Some("/usr/bin/java"), None, &l).unwrap();
        assert!(!t.get(t.live(101).unwrap()).marks.get(0));
        t.exec(101, 100, Some("/usr/bin/id"), None, &l).unwrap();
        assert!(t.get(t.live(101).unwrap()).marks.get(0));
    }

    #[test]
    fn a_parent_that_exited_passes_no_later_mark_at_the_child_exec() {
        let l = alloc(&["/usr/bin/java"]);
        let mut t = ProcessTable::default();
        t.exec(100, 1, Some("/usr/bin/bash"), None, &l).unwrap();
        t.fork(101, 100, None).unwrap();
        t.exec(100, 1, Some("/usr/bin/java"), None, &l).unwrap();
        t.exit(100, 4).unwrap();
        t.exec(101, 100, Some("/usr/bin/id"), None, &l).unwrap();
        assert!(!t.get(t.live(101).unwrap()).marks.get(0));
    }

    #[test]
    fn exited_pid_can_be_reused_with_fresh_ancestry() {
        let l = alloc(&[]);
        let mut t = ProcessTable::default();
        t.exec(100, 1, Some("/a"), None, &l).unwrap();
        t.exit(100, 2).unwrap();
        t.exec(100, 7, Some("/b"), None, &l).unwrap();
        assert_eq!(t.get(t.live(100).unwrap()).ppid, 7);
    }

    #[test]
    fn killed_pid_is_gone() {
        let l = alloc(&[]);
        let mut t = ProcessTable::default();
        t.exec(100, 1, Some("/a"), None, &l).unwrap();
        let r = t.live(100).unwrap();
        t.kill(r, 3);
        assert_eq!(t.live(100), Err(TraceErrorKind::Killed { pid: 100, at: 3 }));
        assert_eq!(
            t.fork(101, 100, None),
            Err(TraceErrorKind::Killed { pid: 100, at: 3 })
        );
    }
}
