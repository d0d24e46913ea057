//! The parts of `camrec` that are plain functions over values, exposed as
//! a library so they can be fuzzed and reused: configuration parsing.

pub mod config;
