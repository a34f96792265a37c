//! The hash sets value lists are compiled into.
//!
//! A fixed-seed fast hasher: the simulator hashes only values written in the
//! policy and the trace the user hands it, so flooding resistance buys nothing
//! and SipHash would dominate the cost of a decision.

use std::collections::{HashMap, HashSet};

/// A hash set with the fast fixed hasher.
pub(crate) type FastSet<T> = HashSet<T, foldhash::fast::FixedState>;

/// An empty [`FastSet`] with room for `n` values.
pub(crate) fn set_with_capacity<T>(n: usize) -> FastSet<T> {
    HashSet::with_capacity_and_hasher(n, foldhash::fast::FixedState::default())
}

/// A hash map with the fast fixed hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
