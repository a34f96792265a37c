//! Value sets: every value list of every filter gets a set id, and its values
//! become map entries keyed by that id. The kernel then answers "is the value
//! in this list" with one lookup, whatever the list's length.

use veto_common::{IntKey, LPM_STR_LEN, PidKey, STR_LEN, StrData, StrSlot};

/// All sets of one run.
#[derive(Debug, Default, Clone)]
pub struct Sets {
    next: u32,
    /// Exact strings (hash map).
    pub strs: Vec<(u32, Vec<u8>)>,
    /// Prefixes; Postfix values are stored reversed (LPM trie).
    pub prefixes: Vec<(u32, Vec<u8>)>,
    /// Integers (hash map).
    pub ints: Vec<IntKey>,
    /// Pids (hash map).
    pub pids: Vec<PidKey>,
}

impl Sets {
    /// A fresh set id (ids start at 1; 0 is never a set).
    pub fn new_id(&mut self) -> u32 {
        self.next += 1;
        self.next
    }

    /// Adds exact strings to a new set.
    pub fn add_strs<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) -> u32 {
        let id = self.new_id();
        for v in values {
            self.strs.push((id, v.as_bytes().to_vec()));
        }
        id
    }

    /// Adds prefixes (or, `reversed`, postfixes) to a new set.
    pub fn add_prefixes<'a>(
        &mut self,
        values: impl IntoIterator<Item = &'a str>,
        reversed: bool,
    ) -> u32 {
        let id = self.new_id();
        for v in values {
            let mut b = v.as_bytes().to_vec();
            if reversed {
                b.reverse();
            }
            self.prefixes.push((id, b));
        }
        id
    }

    /// Adds integers (already normalised to 64 bits) to a new set.
    pub fn add_ints(&mut self, values: impl IntoIterator<Item = u64>) -> u32 {
        let id = self.new_id();
        self.ints.extend(values.into_iter().map(|value| IntKey {
            set_id: id,
            pad: 0,
            value,
        }));
        id
    }

    /// Adds pids to a new set.
    pub fn add_pids(&mut self, values: impl IntoIterator<Item = u32>) -> u32 {
        let id = self.new_id();
        self.pids
            .extend(values.into_iter().map(|pid| PidKey { set_id: id, pid }));
        id
    }
}

/// The hash-map key of an exact string (`head` 0, NUL-padded).
pub fn str_key(set_id: u32, value: &[u8]) -> StrSlot {
    let mut k = StrSlot::ZERO;
    k.set_id = set_id;
    let n = value.len().min(STR_LEN - 1);
    k.bytes[..n].copy_from_slice(&value[..n]);
    k
}

/// The LPM-trie key of a prefix: its length in bits and its data.
pub fn prefix_key(set_id: u32, value: &[u8]) -> (u32, StrData) {
    let mut d = StrData {
        set_id,
        bytes: [0; LPM_STR_LEN],
    };
    let n = value.len().min(LPM_STR_LEN);
    d.bytes[..n].copy_from_slice(&value[..n]);
    (StrSlot::lpm_bits(n as u32), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_gets_its_own_set() {
        let mut s = Sets::default();
        let a = s.add_strs(["/bin/sh"]);
        let b = s.add_strs(["/bin/sh", "/bin/bash"]);
        assert_ne!(a, b);
        assert_eq!(s.strs.len(), 3);
    }

    #[test]
    fn postfix_values_are_stored_reversed() {
        let mut s = Sets::default();
        let id = s.add_prefixes(["/sh"], true);
        assert_eq!(s.prefixes, vec![(id, b"hs/".to_vec())]);
        let (bits, d) = prefix_key(id, b"hs/");
        assert_eq!(bits, 32 + 24);
        assert_eq!(&d.bytes[..4], b"hs/\0");
    }
}
