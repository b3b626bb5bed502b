//! The shared bottom every layer may use: SDK clients and their configuration, typed SDK call
//! errors, CIDR blocks and the allocation of addresses to network interfaces.

pub(crate) mod blocks;
pub(crate) mod cidr;
pub(crate) mod clients;
pub(crate) mod eni;
pub(crate) mod error;
