//! No code: the dependencies of every vpclab crate, with the union of their features, so cargo
//! builds each dependency once whichever crate it builds (see `.config/hakari.toml`).
