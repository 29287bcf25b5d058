//! Redis Cluster (issue 16), being built. So far: the key → hash slot mapping (`slot`),
//! which the redirections, the per-slot key index and the bus will all read.

pub mod slot;
