//! A world's teardown: its functions and the fabric's interfaces first, then its stacks (each
//! once the stacks that use it are gone), then its namespaces.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use super::Inner;
use crate::{
    Error,
    deploy::{
        resources::ProviderContext,
        schedule::Schedule,
        stack::{self, Stack},
        stack_links,
    },
};

/// How many stacks are deleted at once. Each deletes up to 16 resources at once already, and
/// the emulator serves one interpreter at a time: with 4 at once, the ten stacks of the explain
/// test took 20.7 s to delete against 15.6 s one at a time (BENCHMARKS.md, fifth pass), so
/// stacks go one at a time, in dependency order, and failed ones are retried.
const STACKS_AT_ONCE: usize = 1;

/// Tears `inner` down, or keeps it (`VPCLAB_KEEP=1`); returns what could not be removed. The
/// emulator stops at once (`stop_emulator`, if no other world holds it) or lingers for the next
/// world (see [`super::emulator::release`]).
pub(super) async fn teardown(mut inner: Inner, stop_emulator: bool) -> Result<(), Error> {
    if inner.keep {
        keep(inner);
        return Ok(());
    }
    let mut errors = Vec::new();
    let started = Instant::now();
    // Functions stop first: their ENIs go before the subnets that hold them.
    inner.emulator.executor().stop_account(&inner.account_id);
    let mut interfaces = Duration::ZERO;
    if inner.emulator.is_running() {
        let ec2_of = |region: &str| inner.regions.get(region).map(|r| r.clients.ec2.clone());
        errors.extend(inner.fabric.delete_interfaces(ec2_of).await);
        interfaces = started.elapsed();
        let mut stacks = std::mem::take(&mut inner.stacks);
        errors.extend(delete_stacks(&inner, &mut stacks).await);
    }
    let stacks = started.elapsed();
    errors.extend(inner.fabric.teardown());
    tracing::debug!(
        "vpclab: world {} torn down in {:?}: functions and the fabric's interfaces {interfaces:?}, \
         stacks {:?}, namespaces {:?}",
        inner.account_id,
        started.elapsed(),
        stacks - interfaces,
        started.elapsed() - stacks,
    );
    drop(inner.fabric);
    super::emulator::release(inner.emulator, stop_emulator);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Teardown {
            errors: errors.join("\n"),
        })
    }
}

/// Leaves the world running for `VPCLAB_KEEP=1`, and says where it is.
fn keep(inner: Inner) {
    let names: Vec<&str> = inner.stacks.iter().map(Stack::name).collect();
    eprintln!(
        "vpclab: VPCLAB_KEEP=1: keeping world {} at {} (stacks: {}) and its network \
         namespaces {}-*; the emulator and namespaces outlive this process, the fabric's \
         services and the functions' Runtime API end with it",
        inner.account_id,
        inner.emulator.endpoint(),
        names.join(", "),
        inner.fabric.prefix()
    );
    std::mem::forget(inner.emulator);
    std::mem::forget(inner.fabric);
}

/// Deletes `stacks`, each once the stacks that use it are gone. A stack that a template refers
/// to in a way the engine cannot see (a hosted zone by name, say) may fail to delete while its
/// user still exists: each failed stack is tried once more, latest first, after every other
/// deletion ended, and only that second try's errors are reported.
async fn delete_stacks(inner: &Inner, stacks: &mut [Stack]) -> Vec<String> {
    let order: Vec<String> = (0..stacks.len()).rev().map(|i| i.to_string()).collect();
    let schedule = Schedule::new(&order, &stack_links::users(stacks));
    let mut pending: BTreeMap<String, &mut Stack> = stacks
        .iter_mut()
        .enumerate()
        .map(|(i, s)| (i.to_string(), s))
        .collect();
    let ended = schedule
        .run_all(STACKS_AT_ONCE, |key| {
            let stack = pending.remove(key).expect("each stack is scheduled once");
            async move {
                let errors = delete_one(inner, stack).await;
                (stack, errors)
            }
        })
        .await;
    let mut failed: Vec<(usize, &mut Stack)> = Vec::new();
    for (key, (stack, errors)) in ended {
        if !errors.is_empty() {
            tracing::debug!(
                "vpclab: stack {} failed to delete, to be tried again: {}",
                stack.name(),
                errors.join("; ")
            );
            failed.push((key.parse().unwrap_or_default(), stack));
        }
    }
    failed.sort_by_key(|(index, _)| std::cmp::Reverse(*index));
    let mut errors = Vec::new();
    for (_, stack) in failed {
        errors.extend(delete_one(inner, stack).await);
    }
    errors
}

/// Deletes what is left of one stack; returns what could not be deleted.
async fn delete_one(inner: &Inner, stack: &mut Stack) -> Vec<String> {
    let Some(state) = inner.regions.get(stack.region()) else {
        return Vec::new();
    };
    let ctx = ProviderContext {
        clients: &state.clients,
        emulator: inner.emulator.emulator(),
        executor: inner.emulator.executor(),
        artifacts: &inner.artifacts,
        stack_name: "",
        edge: &inner.edge,
        account_id: &inner.account_id,
        fabric: &inner.fabric,
    };
    stack::delete_stack(&ctx, stack, &state.exports).await
}
