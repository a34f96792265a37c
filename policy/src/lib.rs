//! veto's policy front end: TracingPolicy YAML (cilium.io/v1alpha1) into a typed,
//! validated [`spec::Policy`] whose every node keeps its source position.

#![deny(missing_docs)]

pub mod spec;
