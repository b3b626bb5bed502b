//! vpclab's own CloudFormation engine.
//!
//! Templates are parsed (`template`), SAM templates built and translated by the official
//! translator (`sam`, `artifacts`), parameters resolved (`parameters`), intrinsic functions
//! evaluated (`intrinsics`), the network checked before anything is created (`preflight`),
//! resources ordered by their dependencies (`graph`) and created by
//! one provider per resource type (`resources`). `stack` ties these together: create, roll
//! back, delete in reverse order, outputs and exports.

pub(crate) mod artifacts;
pub(crate) mod dynamic_refs;
pub(crate) mod graph;
pub(crate) mod intrinsics;
pub(crate) mod parameters;
pub(crate) mod preflight;
pub(crate) mod resources;
pub(crate) mod sam;
pub(crate) mod schedule;
pub(crate) mod stack;
pub(crate) mod stack_links;
pub(crate) mod template;
pub(crate) mod translator;

pub use graph::GraphError;
pub use intrinsics::IntrinsicError;
pub use parameters::ParameterError;
pub use template::TemplateError;

/// Errors of a deploy. Each names the template or stack, and the resource where there is one.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The stack name is not one AWS accepts.
    #[error(
        "stack name {name:?} is invalid: use a letter, then letters, digits and hyphens \
         (at most 128 characters)"
    )]
    StackName {
        /// The name given.
        name: String,
    },
    /// The template file could not be read.
    #[error("cannot read template {template}: {source}")]
    Read {
        /// The template path.
        template: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The template is malformed.
    #[error("template {template}: {source}")]
    Template {
        /// The template path.
        template: String,
        /// What is wrong.
        source: Box<template::TemplateError>,
    },
    /// A parameter value is missing or invalid.
    #[error("template {template}: {source}")]
    Parameters {
        /// The template path.
        template: String,
        /// What is wrong.
        source: Box<parameters::ParameterError>,
    },
    /// An intrinsic function or condition cannot be evaluated.
    #[error("template {template}: {source}")]
    Intrinsic {
        /// The template path.
        template: String,
        /// What is wrong.
        source: Box<intrinsics::IntrinsicError>,
    },
    /// The resources' dependencies are inconsistent.
    #[error("template {template}: {source}")]
    Graph {
        /// The template path.
        template: String,
        /// What is wrong.
        source: Box<graph::GraphError>,
    },
    /// The SAM transform failed.
    #[error("template {template}: SAM transform failed: {reason}")]
    Sam {
        /// The template path.
        template: String,
        /// The translator's messages.
        reason: String,
    },
    /// Resource types the engine cannot create; nothing was created.
    #[error(
        "template {template}: resource types not supported by vpclab's engine: {resources} \
         (supported: {supported}); nothing was created"
    )]
    UnsupportedTypes {
        /// The template path.
        template: String,
        /// The offending resources, with their types.
        resources: String,
        /// What is supported.
        supported: String,
    },
    /// A resource failed before the stack's creation started (build, packaging).
    #[error("template {template}: resource {logical_id} ({resource_type}): {reason}")]
    Resource {
        /// The template path.
        template: String,
        /// The failing resource.
        logical_id: String,
        /// Its type.
        resource_type: String,
        /// What went wrong.
        reason: String,
    },
    /// A resource failed; the stack was rolled back.
    #[error(
        "stack {stack} ({template}) failed at resource {logical_id} ({resource_type}): {reason}\n\
         rolled back {rolled_back} created resource(s){}",
        if rollback_errors.is_empty() { String::new() } else { format!("; rollback errors:\n{rollback_errors}") }
    )]
    ResourceFailed {
        /// The stack.
        stack: String,
        /// The template path.
        template: String,
        /// The failing resource.
        logical_id: String,
        /// Its type.
        resource_type: String,
        /// What went wrong.
        reason: String,
        /// How many resources were deleted again.
        rolled_back: usize,
        /// Failures of the rollback, one per line.
        rollback_errors: String,
    },
    /// Two stacks export the same name.
    #[error("stack {stack}: export {export} already exists in this world")]
    DuplicateExport {
        /// The stack.
        stack: String,
        /// The export name.
        export: String,
    },
    /// A test asked for an output the stack does not have.
    #[error(transparent)]
    MissingOutput(#[from] MissingOutput),
}

/// A stack has no output of the name asked for.
#[derive(Debug, thiserror::Error)]
#[error("stack {stack} has no output {key}; it has: {available}")]
pub struct MissingOutput {
    /// The stack.
    pub stack: String,
    /// The key asked for.
    pub key: String,
    /// The keys it has.
    pub available: String,
}
