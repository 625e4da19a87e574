//! Tests of the tree, the proofs, notes and checkpoints: published vectors, an
//! independent RFC 9162 implementation, property tests and tampering.

mod checkpoint;
mod naive;
mod note;
mod tamper;
mod tree;
mod vectors;
